"""What the TUI asks the query layer, one function per kind of answer. Each runs on the query
worker's thread (`gitvault.query.worker.QueryWorker`), never on the UI thread, and returns plain
data the state keeps."""

from __future__ import annotations

import math
from typing import Any, Mapping

from gitvault.display import headline
from gitvault.errors import VaultError
from gitvault.query import Query

TABLE_MOST = 64
"""Tables (matrix artifacts) with more cells on a side are counted, not loaded."""
TEXT_MOST = 200_000
"""Text artifacts longer than this are cut (the whole stays in the vault)."""
COMPARE_MOST = 200
"""Runs compared at once (W&B users ask for no cap; the MCP tool keeps the seed's 10)."""
MATRIX_CELLS_MOST = 250_000
"""A run's matrices with more cells are listed with their shape, not loaded (the heatmap shows
at most a screenful of them anyway)."""
TENSOR_SLICE = 8
"""Rows and columns of a tensor's first 2-D plane read for its preview."""



def experiments(q: Query) -> dict[str, Any]:
    """The experiments alone (each with its run count): the first screen's tree, drawn while
    the runs (`index`, ten times the work at 10,000 runs) are still being read."""
    return {"experiments": q.list_experiments(limit=None)["items"]}


def index(q: Query) -> dict[str, Any]:
    """The tree's data: every experiment and every run in a few fields."""
    return {"experiments": q.list_experiments(limit=None)["items"], "runs": q.run_index()}


def index_since(q: Query, token: str | None) -> dict[str, Any]:
    """`index`, with the watcher's token (`Query.changes`) taken first: what lands while the index
    is read is reported to the watcher again, never missed (a run that starts as the TUI opens)."""
    moved = q.changes(token)["token"]
    data = index(q)
    data["token"] = moved
    return data


SECTIONS = ("summary", "info", "compare", "metrics", "tables", "theme", "notifications", "tags")
"""The sections of `.extract/config.toml` the TUI reads (the Extract seed's)."""


def settings(q: Query) -> dict[str, Any]:
    """config.toml's view settings, where the file is (to notice when it changes) and the
    session saved by the last TUI here."""
    from gitvault.tui import session

    config = q.extract_dir / "config.toml"
    saved = q.extract_dir / session.FILE
    return {"sections": {name: q.view_settings(name) for name in SECTIONS}, "config": str(config),
            "stamp": stamp(str(config)), "session_file": str(saved), "session": session.load(saved)}


def stamp(path: str) -> int | None:
    """The file's modification time (None when it is absent)."""
    import os

    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def directions(q: Query, names: Any) -> dict[str, str]:
    return {n: q.metric_direction(n) for n in set(names) if isinstance(n, str) and n}


def dashboard(q: Query) -> dict[str, Any]:
    """Recent runs, the best three runs of each headline metric, running runs with progress."""
    recent = q.runs(limit=8)["items"]
    metrics = headline(r.get("metrics") for r in recent)[:4]
    best = {}
    for m in metrics:
        try:
            best[m] = q.top_runs(m, k=3)
        except VaultError:
            continue
    running = []
    for state in q.live_states():
        running.append({"id": state["id"], "label": _label(state), "total_steps": state.get("total_steps"),
                        "last_step": state.get("last_step")})
    where = q.paths.work_tree or q.paths.git_dir
    return {"recent": recent, "best": best, "running": running, "where": str(where),
            "directions": directions(q, metrics)}


def _label(state: dict[str, Any]) -> str:
    return f"{state.get('experiment_path') or ''}#{state.get('name') or state['id'][:10]}"


def experiment_runs(q: Query, path: str) -> dict[str, Any]:
    """Every run at or below an experiment path, with its headline metrics."""
    items = q.runs(limit=None, filters={"experiment_prefix": path})["items"]
    items = [r for r in items if (r.get("experiment_path") or "") == path
             or (r.get("experiment_path") or "").startswith(path + "/")]
    items.reverse()  # oldest first, as the tree lists them
    names = {m for r in items for m in r.get("metrics") or {}}
    return {"runs": items, "directions": directions(q, names)}


def run(q: Query, run_id: str) -> dict[str, Any]:
    """A run's detail, its lineage, its text artifacts (``text_formats``: each one's format,
    ``markdown`` for `log_text`'s), every matrix artifact, step-tagged versions included, in
    ``matrices`` (`matrices`), and each tensor's shape, dtype and first slice (`tensor_info`)."""
    detail = q.get_run(run_id)
    texts: dict[str, str] = {}
    formats: dict[str, str] = {}
    for artifact in detail["artifacts"]:
        path, name = artifact.get("path"), artifact.get("name") or ""
        if path and artifact.get("kind") == "text":
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    texts[name] = f.read(TEXT_MOST)
                formats[name] = str((artifact.get("metadata") or {}).get("format") or "")
            except OSError as exc:
                texts[f"{name} (unreadable)"] = str(exc)
    tensors = [tensor_info(q, a) for a in detail["artifacts"] if a.get("kind") == "tensor"]
    lineage = q.get_lineage("run", detail["id"])
    return {"run": detail, "texts": texts, "text_formats": formats, "matrices": matrices(detail["artifacts"]),
            "tensors": tensors, "lineage": lineage, "directions": directions(q, detail["metrics_final"])}


def curves(q: Query, run_id: str) -> dict[str, Any]:
    arrays, _ = q.curve_arrays(run_id)
    return arrays


def compare(q: Query, ids: list[str]) -> dict[str, Any]:
    comparison = q.compare_runs(ids, include_curves=False, most=COMPARE_MOST)
    curves_by_run = {rid: q.curve_arrays(rid)[0] for rid in ids}
    tables: dict[str, dict[str, Any]] = {}
    for rid in ids:
        for name, matrix in small_tables(q.get_run(rid)["artifacts"]).items():
            tables.setdefault(name, {})[rid] = matrix
    return {"ids": list(ids), "comparison": comparison, "curves": curves_by_run, "tables": tables,
            "configs": q.configs_of(ids), "directions": {m: c["direction"] for m, c in comparison["metrics"].items()}}


def small_tables(artifacts: list[Any]) -> dict[str, Any]:
    """The first version of each matrix artifact no side of which is above `TABLE_MOST`."""
    tables: dict[str, Any] = {}
    for artifact in artifacts:
        name, shape = artifact.get("name") or "", artifact.get("shape") or []
        if artifact.get("kind") == "matrix" and name not in tables \
                and all(isinstance(n, int) and n <= TABLE_MOST for n in shape):
            matrix, _ = _load_matrix(artifact, TABLE_MOST ** 2)
            if matrix is not None:
                tables[name] = matrix
    return tables


def matrices(artifacts: list[Any]) -> list[dict[str, Any]]:
    """Every matrix artifact, each version of a step-tagged one too, grouped by name in the order
    first logged, then by step: ``{name, step, shape, axes, matrix, why}``; ``matrix`` is None
    (and ``why`` says why) for one of more than `MATRIX_CELLS_MOST` cells or that cannot be read."""
    order: dict[str, int] = {}
    out = []
    for artifact in artifacts:
        if artifact.get("kind") != "matrix":
            continue
        name = artifact.get("name") or ""
        order.setdefault(name, len(order))
        axes = (artifact.get("metadata") or {}).get("axes")
        matrix, why = _load_matrix(artifact, MATRIX_CELLS_MOST)
        out.append({"name": name, "step": artifact.get("step"), "shape": list(artifact.get("shape") or []),
                    "axes": axes if isinstance(axes, dict) else None, "matrix": matrix, "why": why})
    step = lambda m: -1 if m["step"] is None else m["step"]  # noqa: E731
    return sorted(out, key=lambda m: (order[m["name"]], step(m)))


def _load_matrix(artifact: Mapping[str, Any], most: int) -> tuple[Any, str]:
    """A matrix artifact's array, or None and why (too many cells, no blob, unreadable)."""
    shape = artifact.get("shape") or []
    cells = math.prod(n for n in shape if isinstance(n, int))
    if cells > most:
        return None, f"{cells:,} cells, more than {most:,} (read it with the SDK)"
    if not artifact.get("path"):
        return None, "its blob is not here (pull it)"
    import numpy as np

    try:
        return np.load(artifact["path"], allow_pickle=False), ""
    except (OSError, ValueError) as exc:
        return None, f"unreadable: {exc}"


def tensor_info(q: Query, artifact: Mapping[str, Any]) -> dict[str, Any]:
    """A tensor artifact's shape, dtype and chunks, and its first 2-D slice (`TENSOR_SLICE` rows
    and columns of its first plane), read lazily through the SDK's reader
    (`gitvault.runs.artifacts.open_tensor`): only the chunks of that slice are read."""
    shape = list(artifact.get("shape") or [])
    info: dict[str, Any] = {"name": artifact.get("name") or "", "step": artifact.get("step"), "shape": shape,
                            "dtype": artifact.get("dtype"), "chunks": None, "slice": None, "where": "", "why": ""}
    if not artifact.get("blob"):
        info["why"] = "its blob is not here (pull it)"
        return info
    from gitvault.runs import artifacts as sdk_artifacts

    try:
        array = sdk_artifacts.open_tensor(q.caches.blobs, artifact["blob"])
    except (VaultError, OSError, ValueError) as exc:
        info["why"] = str(exc)
        return info
    try:
        info["shape"], info["dtype"], info["chunks"] = list(array.shape), str(array.dtype), list(array.chunks)
        lead = (0,) * max(0, array.ndim - 2)
        index = lead + tuple(slice(0, min(TENSOR_SLICE, n)) for n in array.shape[len(lead):])
        info["slice"] = array[index] if array.ndim else array[()]
        info["where"] = "[" + ", ".join(str(i) if isinstance(i, int) else f"{i.start}:{i.stop}" for i in index) + "]"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        info["why"] = f"unreadable: {exc}"
    finally:
        close = getattr(array.store, "close", None)
        if callable(close):
            close()
    return info


def models(q: Query) -> dict[str, Any]:
    """Every model version, with the full label of the run that produced it."""
    items = q.list_models(limit=None)["items"]
    runs = q.run_items(str(m["run_id"]) for m in items if m.get("run_id"))
    return {"models": items, "labels": {rid: r["label"] for rid, r in runs.items()}}


def todos(q: Query, scope: str, scope_id: str | None) -> dict[str, Any]:
    """The TODOs of a scope, done ones included, with the full label of each run or experiment
    they belong to."""
    items = q.list_todos(scope, scope_id, include_done=True)["items"]
    runs = q.run_items(t["scope_id"] for t in items if t["scope_type"] == "run" and t["scope_id"])
    labels = {rid: r["label"] for rid, r in runs.items()}
    paths = {e["id"]: e["path"] for e in q.list_experiments(limit=None)["items"]}
    labels.update({t["scope_id"]: paths.get(t["scope_id"], t["scope_id"]) for t in items
                   if t["scope_type"] == "experiment" and t["scope_id"]})
    return {"todos": items, "labels": labels}


def lineage(q: Query, kind: str, ident: str) -> dict[str, Any]:
    return dict(q.get_lineage(kind, ident, direction="both", depth=5))


def history(q: Query, limit: int = 100) -> dict[str, Any]:
    return dict(q.history(limit=limit))


def search(q: Query, text: str, limit: int = 50) -> list[dict[str, Any]]:
    """Experiments whose path holds ``text``, runs whose label, name, tags or notes hold it."""
    wanted = text.strip().lower()
    if not wanted:
        return []
    out: list[dict[str, Any]] = []
    for e in q.list_experiments(limit=None)["items"]:
        if wanted in e["path"].lower():
            out.append({"kind": "experiment", "key": "e:" + e["id"], "text": e["path"], "why": "path"})
    seen = set()
    for r in q.run_index():
        if wanted in r["label"].lower():
            seen.add(r["id"])
            out.append({"kind": "run", "key": "r:" + r["id"], "text": r["label"], "status": r["status"], "why": "name"})
        elif any(wanted in t.lower() for t in r["tags"]):
            seen.add(r["id"])
            out.append({"kind": "run", "key": "r:" + r["id"], "text": r["label"], "status": r["status"],
                        "why": "tag " + ", ".join(t for t in r["tags"] if wanted in t.lower())})
        if len(out) >= limit:
            return out
    for hit in q.search(text, limit=limit)["items"]:  # notes
        if hit["id"] not in seen:
            out.append({"kind": "run", "key": "r:" + hit["id"], "text": hit["label"], "status": hit["status"],
                        "why": "notes"})
    return out[:limit]


def files(q: Query, run_id: str) -> dict[str, Any]:
    """A run's files and images (`Query.files`)."""
    return {"run_id": run_id, "items": q.files(run_id)}


def thumbnail(q: Query, run_id: str, name: str, step: int | None, cols: int, lines: int) -> dict[str, Any]:
    """The image ``name`` at ``step`` as RGB pixels (a numpy array) that fill at most ``cols``
    cells by ``lines`` lines of half blocks, its aspect kept (`tui.views.media.fit_pixels`); or
    None and why (no Pillow, an unreadable file). The file comes verified from `Query.file`."""
    from gitvault import extras

    if not extras.available("images"):
        return {"pixels": None, "why": extras.message("thumbnails", "images")}
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from gitvault.tui.views.media import fit_pixels

    path = q.file(run_id, name, step)["path"]
    try:
        with Image.open(path) as img:
            rgba = img.convert("RGBA")
            size = fit_pixels(img.width, img.height, cols, lines)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:  # a huge image: not drawn
        return {"pixels": None, "why": f"unreadable: {exc}"}
    flat = Image.new("RGBA", rgba.size, (0, 0, 0, 255))  # transparency drawn on black
    flat.alpha_composite(rgba)
    upscale = size[0] >= rgba.width
    resized = flat.convert("RGB").resize(size, Image.Resampling.NEAREST if upscale else Image.Resampling.BOX)
    return {"pixels": np.asarray(resized), "why": ""}
