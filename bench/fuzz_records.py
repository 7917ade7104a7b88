"""Bounded-time fuzz of gitvault's decoders (hypothesis, run as a plain script).

    .venv/bin/python bench/fuzz_records.py [--seconds 60] [--only decode,config,spool,archive]

Targets (the time is split evenly between them; each runs hypothesis in batches until its share
is spent):

1. ``decode``: `gitvault.storage.codec.decode` on random bytes, random msgpack and mutated valid records
   of every kind; it must raise `CorruptRecordError` or return a record that passes
   `gitvault.storage.schema.problem` and that `blob_refs`, `fold` and (runs) `metric_items` survive.
2. ``config``: `VaultConfig.from_toml` on random text and mutated valid ``vault.toml``; only
   `ConfigError` may come out, and what loads must write back (`to_toml`) and load again equal.
3. ``spool``: the live spool readers (`read_spool`, `load`, `SpoolReader`, `live_run`) on a real
   SDK spool with flipped, truncated and inserted bytes; only `FileNotFoundError` or
   `CorruptRecordError` (the header) may come out of the readers, nothing out of `live_run`.
4. ``archive``: `gitvault.sync.exchange.import_archive` of a real export with damaged gzip bytes and crafted
   tar members (``..`` names, links, huge declared sizes, broken manifests); only `VaultError`
   may come out, and a failed import leaves ``refs/vault/main`` (and no temp ref) behind unchanged.

Prints, per target, the cases tried and the failures (distinct by exception type and place), with
the first input of each; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgpack
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitvault.storage import codec, records, schema  # noqa: E402
from gitvault.cache import state as cache_state  # noqa: E402
from gitvault.settings import VaultConfig  # noqa: E402
from gitvault.errors import ConfigError, CorruptRecordError, VaultError  # noqa: E402

for _key, _value in dict(  # an identity for the repositories it makes, unless the caller has one
        GIT_AUTHOR_NAME="Fuzz", GIT_AUTHOR_EMAIL="fuzz@example.invalid",
        GIT_COMMITTER_NAME="Fuzz", GIT_COMMITTER_EMAIL="fuzz@example.invalid", GIT_CONFIG_NOSYSTEM="1").items():
    os.environ.setdefault(_key, _value)

BATCH = 40  # hypothesis examples per batch; the clock is checked between batches
SHOWN_INPUT = 600  # characters of a failing input shown


# -- bookkeeping ---------------------------------------------------------------------------------

@dataclass
class Failure:
    signature: str
    summary: str
    first_input: str
    count: int = 1


@dataclass
class Target:
    name: str
    tried: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)
    deadline: float = 0.0

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def fail(self, shown_input: str, message: str, exc: BaseException | None = None) -> None:
        if exc is not None:
            frames = traceback.extract_tb(exc.__traceback__)
            last = frames[-1] if frames else None
            place = f"{Path(last.filename).name}:{last.lineno} in {last.name}" if last else "?"
            signature = f"{type(exc).__name__} at {place}"
            summary = f"{message}: {type(exc).__name__}: {str(exc)[:300]}\n" + "".join(
                traceback.format_list(frames[-4:]))
        else:
            signature = message.split(":")[0]
            summary = message
        known = self.failures.get(signature)
        if known is not None:
            known.count += 1
            return
        self.failures[signature] = Failure(signature, summary, shown_input[:SHOWN_INPUT])

    def total_failures(self) -> int:
        return sum(f.count for f in self.failures.values())


def run_batches(target: Target, test: Callable[[], None]) -> None:
    """Run the hypothesis test ``test`` (already @given) batch after batch until the deadline."""
    while not target.out_of_time():
        test()


def fuzz_settings() -> settings:
    return settings(max_examples=BATCH, deadline=None, database=None, derandomize=False,
                    phases=[Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)


# -- value strategies ------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 64) - 1), st.floats(allow_nan=True),
    st.text(max_size=20), st.binary(max_size=20), st.sampled_from(["", "0" * 64, "a" * 64, "../x", "running"]),
)
ANY_VALUE = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=4)), inner, max_size=4)),
    max_leaves=12,
)
ANY_MSGPACK = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-(1 << 63), (1 << 64) - 1), st.binary(max_size=4)),
                                            inner, max_size=4)),
    max_leaves=12,
)


# -- target 1: the record decoder ------------------------------------------------------------------

SHA = "ab" * 32


def valid_records() -> list[dict[str, Any]]:
    """One valid record of each kind (shapes of gitvault/storage/records.py and tests/test_merge.py)."""
    now = codec.utc_now()
    exp_path = "bench/model/v1"
    run_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    return [
        {"kind": "experiment", "id": records.experiment_id(exp_path), "path": exp_path, "name": "v1",
         "parent_id": records.experiment_id("bench/model"), "node_type": "experiment", "created_at": now,
         "metadata": {}, "status": "active", "specimen_id": None, "domain": None, "method": None, "model": None,
         "tags": ["a"]},
        {"kind": "run", "id": run_id, "experiment_id": records.experiment_id(exp_path), "experiment_path": exp_path,
         "name": "run", "config": {"lr": 0.1}, "started_at": now, "ended_at": now, "status": "completed",
         "hostname": "host", "git": {"sha": None, "branch": "main", "dirty": False, "patch": SHA, "tree": None},
         "env": {"python": "3.11", "platform": "linux", "packages": {}}, "total_steps": 10,
         "metrics": {"loss": {"value": 0.5, "wall_time": 1.0}, "acc": 0.9}, "params": {"opt": "adam"},
         "curves": {"blob": SHA, "names": ["loss"], "points": 10, "last_step": 9},
         "artifacts": [{"id": "a1", "name": "w", "kind": "file", "step": None, "blob": SHA, "shape": None,
                        "dtype": None, "metadata": {}, "created_at": now}],
         "tags": ["t"], "notes": [{"content": "n", "created_at": now}, "old note"]},
        {"kind": "model", "id": records.model_id("m", "1"), "name": "m", "version": "1", "run_id": run_id,
         "framework": "torch", "metadata": {}, "created_at": now, "blob": SHA, "size": 3},
        {"kind": "model", "id": records.model_id("m", "2"), "name": "m", "version": "2", "run_id": None,
         "framework": None, "metadata": {}, "created_at": now, "files": {"a/b.bin": SHA}, "size": 3},
        {"kind": "lineage", "id": records.lineage_id("run", run_id, "model", "x", "derived_from"),
         "parent_type": "run", "parent_id": run_id, "child_type": "model", "child_id": "x",
         "relation": "derived_from", "metadata": {}, "created_at": now},
        {"kind": "todo", "id": run_id, "scope_type": "experiment", "scope_id": None, "content": "do it",
         "priority": 1, "created_at": now, "done": False, "completed_at": None},
        {"kind": "link", "id": records.link_id(run_id, "c" * 40), "run_id": run_id, "commit": "c" * 40,
         "tree": "d" * 40, "via": "hook", "created_at": now},
        {"kind": "event", "id": run_id, "type": "tag", "target_kind": "run", "target_id": run_id,
         "created_at": now, "data": {"tags": ["x"]}},
    ]


VALID = valid_records()
# fields that blob_refs, fold and metric_items read, whatever the kind
CONSUMED_FIELDS = ["notes", "tags", "metrics", "git", "curves", "artifacts", "blob", "files", "done", "kind"]
ALL_FIELDS = sorted({k for r in VALID for k in r} | {"notes", "tags", "archived", "kind", "id", "schema"})


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place (key path) inside a record a mutation may replace."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(record: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        record = record[step]
    record[path[-1]] = value


@st.composite
def mutated_record(draw: st.DrawFn) -> tuple[str, bytes]:
    record = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "add", "delete"]))
        paths = _paths(record)
        if how == "replace" and paths:
            _set(record, draw(st.sampled_from(paths)), draw(ANY_VALUE))
        elif how == "add":
            name = draw(st.one_of(st.sampled_from(CONSUMED_FIELDS), st.sampled_from(ALL_FIELDS), st.text(max_size=6)))
            record[name] = draw(ANY_VALUE)
        elif paths:
            path = draw(st.sampled_from(paths))
            parent: Any = record
            for step in path[:-1]:
                parent = parent[step]
            del parent[path[-1]]
    return repr(record), msgpack.packb(record, use_bin_type=True)


DECODE_INPUTS = st.one_of(
    st.binary(max_size=200).map(lambda b: (f"bytes {b!r}", b)),
    ANY_MSGPACK.map(lambda v: (repr(v), msgpack.packb(v, use_bin_type=True))),
    mutated_record(),
)


def check_decode(target: Target, shown: str, data: bytes) -> None:
    target.tried += 1
    try:
        result = codec.decode(data, "fuzz")
    except CorruptRecordError:
        return
    except Exception as exc:  # noqa: BLE001 - any other type is a finding
        target.fail(shown, "decode raised", exc)
        return
    try:
        found = schema.problem(result)
    except Exception as exc:  # noqa: BLE001
        target.fail(shown, "schema.problem raised on a decoded record", exc)
        return
    if found is not None:
        target.fail(shown, f"decoded record fails schema.problem: {found}")
        return
    for name, consume in (("blob_refs", records.blob_refs), ("fold", lambda r: records.fold(r, [])),
                          ("metric_items", cache_state.metric_items)):
        if name == "metric_items" and result.get("kind") != "run":
            continue
        try:
            consume(result)
        except Exception as exc:  # noqa: BLE001
            target.fail(shown, f"{name} raised on a decoded record", exc)


def fuzz_decode(target: Target) -> None:
    @fuzz_settings()
    @given(DECODE_INPUTS)
    def test(case: tuple[str, bytes]) -> None:
        if not target.out_of_time():
            check_decode(target, *case)

    run_batches(target, test)


# -- target 2: vault.toml ------------------------------------------------------------------------------

VALID_TOML = VaultConfig.default(None).to_toml()

TOML_VALUES = st.recursive(
    st.one_of(st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(), st.text(max_size=12),
              st.sampled_from(["a > b", "", " > ", "x>y>z", "1979-05-27T07:32:00Z"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _toml_literal(value: Any) -> str:
    import tomlkit

    try:
        return tomlkit.item(value).as_string()
    except Exception:  # noqa: BLE001 - a value TOML cannot hold: write it as text
        return json.dumps(str(value))


@st.composite
def mutated_toml(draw: st.DrawFn) -> str:
    lines = VALID_TOML.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        how = draw(st.sampled_from(["value", "delete", "insert", "chars", "table", "dup"]))
        if how == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {_toml_literal(draw(TOML_VALUES))}"
        elif how == "delete" and lines:
            del lines[i]
        elif how == "insert":
            key = draw(st.sampled_from(["format_version", "hierarchy", "minimize", "maximize", "methods",
                                        "description", "store", "taxonomy", "domains", "metrics"]))
            lines.insert(i, f"{key} = {_toml_literal(draw(TOML_VALUES))}")
        elif how == "table":
            lines.insert(i, draw(st.sampled_from(["[store]", "[metrics]", "[taxonomy]", "[taxonomy.domains]",
                                                  "[taxonomy.methods]", "[[store]]", "[taxonomy.domains.x.y]",
                                                  "[[taxonomy.domains.z]]", "[metrics.minimize]"])))
        elif how == "dup" and lines:
            lines.insert(i, lines[i])
        elif lines:
            text = lines[i]
            at = draw(st.integers(0, len(text)))
            lines[i] = text[:at] + draw(st.text(max_size=4)) + text[at + draw(st.integers(0, 3)):]
    return "\n".join(lines)


TOML_INPUTS = st.one_of(st.text(max_size=200), mutated_toml())


def check_config(target: Target, text: str) -> None:
    target.tried += 1
    try:
        cfg = VaultConfig.from_toml(text)
    except ConfigError:
        return
    except Exception as exc:  # noqa: BLE001
        target.fail(repr(text), "from_toml raised", exc)
        return
    try:
        bad = [f for f in ("hierarchy", "minimize", "maximize") if not all(isinstance(x, str) for x in getattr(cfg, f))]
        bad += [] if isinstance(cfg.format_version, int) else ["format_version"]
        bad += [] if all(isinstance(m, list) for m in cfg.domains.values()) else ["domains"]
        if bad:
            target.fail(repr(text), f"loaded config has wrongly typed fields: {bad}")
            return
        again = VaultConfig.from_toml(cfg.to_toml())
    except Exception as exc:  # noqa: BLE001
        target.fail(repr(text), "a loaded config does not write back and load again", exc)
        return
    if again != cfg:
        target.fail(repr(text), f"config round trip differs: {cfg!r} != {again!r}")


def fuzz_config(target: Target) -> None:
    @fuzz_settings()
    @given(TOML_INPUTS)
    def test(text: str) -> None:
        if not target.out_of_time():
            check_config(target, text)

    run_batches(target, test)


# -- shared: small real repositories -------------------------------------------------------------

def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('training')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "initial")
    return root


def vault_ref(root: Path) -> str | None:
    proc = subprocess.run(["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/vault/", "refs/vault-import/"],
                          cwd=root, capture_output=True, text=True, check=True)
    return proc.stdout


# -- target 3: the live spool reader --------------------------------------------------------------

def make_spool(work: Path) -> Path:
    """A real spool of an SDK run (4 flushes of curves, metrics, params, tags, notes), copied out."""
    from gitvault import Store

    repo = make_repo(work / "spool-repo")
    old = Path.cwd()
    os.chdir(repo)
    try:
        store = Store(repo)
        run = store.experiment({"benchmark": "fuzz", "model": "m", "variant": "v"}).run(
            config={"lr": 0.1}, name="fuzz", total_steps=40)
        for frame in range(4):
            for step in range(10 * frame, 10 * frame + 10):
                run.curve(step, loss=step / 10, acc=1 - step / 100)
            run.log(best=frame * 1.5, opt="adam")
            run.tag(f"t{frame}")
            run.note(f"note {frame}")
            run.flush()
        spool = store.vault.paths.live_dir / run.id
        template = work / "spool-template"
        shutil.copytree(spool, template)
        run.finish()
    finally:
        os.chdir(old)
    return template


@st.composite
def damaged_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length", "zero"]))
        at = draw(st.integers(0, len(data)))
        if how == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= draw(st.integers(1, 255))
        elif how == "truncate":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=16),
                                         st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x81\xa1t\xcb"])))
        elif how == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif how == "length" and len(data) >= 4:
            at = min(at, len(data) - 4)
            data[at:at + 4] = draw(st.integers(0, (1 << 32) - 1)).to_bytes(4, "little")
        elif how == "zero":
            data[at:at + draw(st.integers(1, 32))] = bytes(min(32, len(data) - at))
    return bytes(data)


@st.composite
def crafted_frames(draw: st.DrawFn) -> bytes:
    """Well-framed data whose maps hold random values (wrong types in known frame fields)."""
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        frame = draw(st.dictionaries(st.sampled_from(["t", "metrics", "params", "tags", "notes", "artifacts",
                                                      "blocks", "schema", "x"]), ANY_VALUE, max_size=4))
        payload = msgpack.packb(frame, use_bin_type=True)
        out += len(payload).to_bytes(4, "little") + payload
    return out


def check_spool(target: Target, template: Path, work: Path, shown: str, header: bytes | None, data: bytes | None) -> None:
    from gitvault.runs import spool

    target.tried += 1
    case = work / "case"
    shutil.rmtree(case, ignore_errors=True)
    shutil.copytree(template, case)
    if header is not None:
        (case / spool.HEADER).write_bytes(header)
    if data is not None:
        (case / spool.DATA).write_bytes(data)
    readers: list[tuple[str, Callable[[], Any]]] = [
        ("read_spool", lambda: spool.read_spool(case)),
        ("load", lambda: spool.load(case)),
        ("SpoolReader.read", lambda: spool.SpoolReader(case, warn=False).read()),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", spool.SpoolWarning)
        for name, read in readers:
            try:
                view = read()
            except (FileNotFoundError, CorruptRecordError):
                continue
            except Exception as exc:  # noqa: BLE001
                target.fail(shown, f"{name} raised", exc)
                continue
            if name != "load":
                problem = _view_problem(view)
                if problem:
                    target.fail(shown, f"{name} view breaks an invariant: {problem}")
        try:
            view = spool.live_run(case)
        except Exception as exc:  # noqa: BLE001 - live_run documents no error at all
            target.fail(shown, "live_run raised", exc)
            return
        if view is not None:
            problem = _view_problem(view)
            if problem:
                target.fail(shown, f"live_run view breaks an invariant: {problem}")


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict):
        return f"not a dict: {type(view).__name__}"
    points = 0
    for name, curve in (view.get("curves") or {}).items():
        steps, values, wall = curve["step"], curve["value"], curve["wall_time"]
        if not len(steps) == len(values) == len(wall):
            return f"curve {name!r} columns of different lengths"
        if len(steps) > 1 and not bool((steps[1:] > steps[:-1]).all()):
            return f"curve {name!r} steps not ascending and unique"
        points += len(steps)
    if view.get("points") != points:
        return f"points {view.get('points')} != {points}"
    return None


def fuzz_spool(target: Target, work: Path) -> None:
    from gitvault.runs import spool

    template = make_spool(work)
    header = (template / spool.HEADER).read_bytes()
    data = (template / spool.DATA).read_bytes()
    header_map = msgpack.unpackb(header)
    inputs = st.one_of(
        damaged_bytes(data).map(lambda d: ("data", None, d)),
        damaged_bytes(header).map(lambda h: ("header", h, None)),
        crafted_frames().map(lambda d: ("frames", None, data + d)),
        st.tuples(st.sampled_from(sorted(header_map)), ANY_VALUE).map(
            lambda kv: ("header field", msgpack.packb({**header_map, kv[0]: kv[1]}, use_bin_type=True), None)),
        st.binary(max_size=64).map(lambda d: ("random data", None, d)),
    )

    @fuzz_settings()
    @given(inputs)
    def test(case: tuple[str, bytes | None, bytes | None]) -> None:
        if target.out_of_time():
            return
        what, new_header, new_data = case
        shown = f"{what}: header={new_header!r} data={new_data!r}"
        check_spool(target, template, work, shown, new_header, new_data)

    run_batches(target, test)


# -- target 4: the archive importer ----------------------------------------------------------------

def make_archive(work: Path) -> tuple[Path, Path]:
    """A tiny archive exported from a one-run vault, and a fresh target repository with a vault."""
    from gitvault import Store
    from gitvault.sync.exchange import export_archive
    from gitvault.storage.vault import Vault

    source = make_repo(work / "archive-source")
    store = Store(source)
    run = store.experiment({"benchmark": "fuzz", "model": "m", "variant": "v"}).run(config={"a": 1}, name="r")
    for step in range(5):
        run.curve(step, loss=step / 5)
    run.log(best=1.0)
    run.finish()
    archive = work / "valid.tar.gz"
    export_archive(source, archive)
    target = make_repo(work / "archive-target-template")
    Vault.open(target).init(VaultConfig.default())
    return archive, target


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive, "r:gz") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar]  # type: ignore[union-attr]


def _pack(members: list[tuple[tarfile.TarInfo, bytes]], raw_tail: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, content in members:
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
        end = tar.offset
    raw = buf.getvalue()
    if raw_tail:  # a header declaring more than the archive holds, after the whole members
        raw = raw[:end] + raw_tail
    return gzip.compress(raw, compresslevel=1)


@st.composite
def crafted_archive(draw: st.DrawFn, members: list[tuple[tarfile.TarInfo, bytes]]) -> tuple[str, bytes]:
    items = [(copy.copy(i), c) for i, c in members]
    how = draw(st.sampled_from(["name", "symlink", "hardlink", "fifo", "huge", "duplicate", "manifest", "drop",
                                "blob content", "dir"]))
    names = [i.name for i, _ in items]
    evil = st.sampled_from(["../evil", "/abs", "blobs/../../x", "./manifest.json", "blobs/00/" + "0" * 62,
                            "blobs/zz", "vault.bundle/x", "a/../../b", "blobs//ab/" + "c" * 62, "manifest.json/",
                            ".", "..", "blobs/" + "0" * 64])
    if how == "name":
        k = draw(st.integers(0, len(items) - 1))
        items[k][0].name = draw(st.one_of(evil, st.text(min_size=1, max_size=12)))
    elif how in ("symlink", "hardlink", "fifo", "dir"):
        info = tarfile.TarInfo(draw(st.one_of(st.sampled_from(names), evil)))
        info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE,
                     "dir": tarfile.DIRTYPE}[how]
        info.linkname = draw(st.sampled_from(["/etc/passwd", "../../x", "manifest.json", names[-1]]))
        at = draw(st.integers(0, len(items)))
        items.insert(at, (info, b""))
    elif how == "huge":
        info = tarfile.TarInfo(draw(st.sampled_from(names)))
        info.size = draw(st.sampled_from([1 << 40, 1 << 62, 10 << 20, 300 << 20]))
        tail = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape") + b"\0" * draw(st.integers(0, 4096))
        return f"huge member {info.name} size {info.size}", _pack(items, tail)
    elif how == "duplicate":
        k = draw(st.integers(0, len(items) - 1))
        items.append((copy.copy(items[k][0]), items[k][1]))
    elif how == "drop":
        del items[draw(st.integers(0, len(items) - 1))]
    elif how == "blob content":
        k = draw(st.integers(0, len(items) - 1))
        content = draw(st.binary(max_size=64))
        items[k][0].size = len(content)
        items[k] = (items[k][0], content)
    elif how == "manifest":
        k = names.index("manifest.json")
        manifest = json.loads(items[k][1])
        mutation = draw(st.sampled_from(["drop key", "set key", "replace", "text"]))
        if mutation == "drop key":
            manifest.pop(draw(st.sampled_from(sorted(manifest))), None)
        elif mutation == "set key":
            key = draw(st.sampled_from(sorted(manifest) + ["ref", "tip", "blobs", "format"]))
            manifest[key] = draw(st.one_of(
                st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                             lambda i: st.one_of(st.lists(i, max_size=3), st.dictionaries(st.text(max_size=5), i, max_size=3)),
                             max_leaves=6),
                st.sampled_from(["refs/heads/main", "--upload-pack=touch /tmp/x", "HEAD", "0" * 40, "refs/vault/main"])))
        text = json.dumps(manifest).encode()
        if mutation == "replace":
            text = json.dumps(draw(st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=5), st.none()))).encode()
        elif mutation == "text":
            text = draw(st.binary(max_size=40))
        items[k][0].size = len(text)
        items[k] = (items[k][0], text)
        how = f"manifest {text!r}"
    return f"{how}: " + repr([(i.name, i.type, i.size, i.linkname) for i, _ in items]), _pack(items)


def check_import(target: Target, template: Path, work: Path, pool: dict[str, Path], shown: str, data: bytes) -> None:
    from gitvault.sync.exchange import import_archive

    target.tried += 1
    repo = pool.get("repo")
    if repo is None:  # a fresh vault after each import that went through
        repo = work / f"target-{target.tried}"
        shutil.copytree(template, repo, symlinks=True)
        pool["repo"] = repo
    archive = work / "case.tar.gz"
    archive.write_bytes(data)
    before = vault_ref(repo)
    try:
        import_archive(archive, repo)
    except VaultError:
        after = vault_ref(repo)
        if after != before:
            target.fail(shown, f"failed import changed refs: {before!r} -> {after!r}")
        leftovers = [p.name for p in (repo / ".git" / "vault" / "incoming").glob("*")] \
            if (repo / ".git" / "vault" / "incoming").is_dir() else []
        if leftovers:
            target.fail(shown, f"failed import left staging folders: {leftovers}")
            for p in leftovers:
                shutil.rmtree(repo / ".git" / "vault" / "incoming" / p, ignore_errors=True)
        return
    except Exception as exc:  # noqa: BLE001
        after = vault_ref(repo)
        target.fail(shown, "import_archive raised", exc)
        if after != before:
            target.fail(shown, f"failed import ({type(exc).__name__}) changed refs: {before!r} -> {after!r}")
        return
    shutil.rmtree(repo, ignore_errors=True)
    pool.pop("repo", None)


def fuzz_archive(target: Target, work: Path) -> None:
    archive, template = make_archive(work)
    raw = archive.read_bytes()
    members = _members(archive)
    inflated = gzip.decompress(raw)
    pool: dict[str, Path] = {}
    inputs = st.one_of(
        damaged_bytes(raw).map(lambda d: ("gzip bytes damaged", d)),
        damaged_bytes(inflated).map(lambda d: ("tar bytes damaged", gzip.compress(d, compresslevel=1))),
        crafted_archive(members),
    )

    @settings(fuzz_settings(), max_examples=8)  # each case imports into a real repository
    @given(inputs)
    def test(case: tuple[str, bytes]) -> None:
        if not target.out_of_time():
            check_import(target, template, work, pool, *case)

    check_import(target, template, work, pool, "the valid archive (must import)", raw)
    if target.failures:
        return
    run_batches(target, test)


# -- main --------------------------------------------------------------------------------------

TARGETS = ("decode", "config", "spool", "archive")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="total time, split across the targets")
    parser.add_argument("--only", default=",".join(TARGETS), help="comma-separated targets to run")
    args = parser.parse_args(argv)
    chosen = [t for t in args.only.split(",") if t]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    share = args.seconds / len(chosen)
    results: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="gitvault-fuzz-") as tmp:
        work = Path(tmp)
        old_cwd = Path.cwd()
        for name in chosen:
            target = Target(name, deadline=time.monotonic() + share)
            started = time.monotonic()
            place = work / name
            place.mkdir()
            try:
                if name == "decode":
                    fuzz_decode(target)
                elif name == "config":
                    fuzz_config(target)
                elif name == "spool":
                    fuzz_spool(target, place)
                else:
                    fuzz_archive(target, place)
            except Exception as exc:  # noqa: BLE001 - the harness's own setup failing is a failure too
                target.fail("(setup)", "harness setup raised", exc)
            finally:
                os.chdir(old_cwd)
            results.append(target)
            print(f"{name:8} {target.tried:7d} cases  {target.total_failures():5d} failures  "
                  f"({len(target.failures)} distinct, {time.monotonic() - started:.1f}s)", flush=True)
    failed = False
    for target in results:
        for failure in target.failures.values():
            failed = True
            print(f"\n[{target.name}] {failure.signature} (x{failure.count})\n  input: {failure.first_input}\n"
                  f"  {failure.summary.rstrip()}".replace("\n", "\n  "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
