"""A run's files and images (``run.log_file``, ``log_image``, ``log_figure``) for front-ends: one call
lists them (`FileQueries.files`), one gives a verified path or the bytes of one (`file`,
`file_bytes`), one the files of a logged folder (`folder`), and `export` copies them out. Front-ends
never read the blob store themselves: every path returned here was checked against its sha256.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from gitvault.errors import QueryError
from gitvault.query.runs import RunQueries
from gitvault.storage.records import FILE_KINDS, file_items

__all__ = ["FILE_KINDS", "FileQueries", "files_in"]

if TYPE_CHECKING:  # types alone (as in the other query modules): nothing of them is needed at run time
    from gitvault.query.shapes import FileBlob, FileItem


def files_in(artifacts: Any) -> list[FileItem]:
    """The files and images among a run detail's ``artifacts``, as `FileQueries.files` lists them
    (for a front-end that holds the detail already)."""
    return [cast("FileItem", item) for item in file_items(artifacts)]


class FileQueries(RunQueries):
    def files(self, run: str) -> list[FileItem]:
        """The run's files and images, the latest of each (name, step), by name then step:
        name, kind (``file`` or ``image``), step, size, media_type, width, height, caption,
        folder, blob, created_at. ``run``: an id, unique prefix or name."""
        return files_in(self.get_run(self.resolve_run(run))["artifacts"])

    def file(self, run: str, name: str, step: int | None = None) -> FileBlob:
        """One file or image (at ``step``, else the latest of that name) with ``path``, its blob
        in this clone, sha256 checked. `QueryError` names what the run has when there is no such
        file; a missing or damaged blob raises `BlobError` (pull it, or fsck --repair)."""
        items = self.files(run)
        if step is not None and (type(step) is bool or not isinstance(step, int)):
            raise QueryError(f"step must be an int, got {type(step).__name__} {step!r}")
        matching = [i for i in items if i["name"] == name and (step is None or i["step"] == step)]
        if not matching:
            raise QueryError(_missing(run, name, step, items))
        item = max(matching, key=lambda i: (i["created_at"] or "", -1 if i["step"] is None else i["step"])) \
            if step is None else matching[-1]
        return self._verified(item)

    def file_bytes(self, run: str, name: str, step: int | None = None) -> bytes:
        """The bytes of `file` (checked against its sha256)."""
        return Path(self.file(run, name, step)["path"]).read_bytes()

    def folder(self, run: str, name: str) -> list[FileBlob]:
        """The files logged under ``name/`` (a folder given to ``log_file``), each as `file`
        gives it; an empty list when there are none."""
        prefix = name.rstrip("/") + "/"
        return [self._verified(i) for i in self.files(run) if i["name"].startswith(prefix)]

    def export(self, run: str, name: str, out: str | Path, step: int | None = None) -> list[Path]:
        """Copy the file ``name`` (or every file of the folder ``name``) into the folder ``out``
        under its name (``out/name``; a folder keeps its tree), each copy checked against its
        sha256; an existing file is never overwritten (`FileExistsError`). Returns the files written."""
        try:
            chosen = [self.file(run, name, step)]
        except QueryError:
            chosen = self.folder(run, name) if step is None else []
            if not chosen:
                raise
        target = Path(out).expanduser()
        if target.exists() and not target.is_dir():
            raise NotADirectoryError(f"{target} is a file; give a folder to write {name!r} into")
        plan = []
        for item in chosen:
            rel = PurePosixPath(out_name(item))
            if any(p in ("", ".", "..") for p in rel.parts) or rel.is_absolute():
                raise QueryError(f"file name {item['name']!r} would leave {target}; run `git vault fsck`")
            dest = target.joinpath(*rel.parts)
            if dest.exists():
                raise FileExistsError(f"{dest} exists; write {name!r} into another folder (--out DIR)")
            plan.append((dest, Path(item["path"])))
        for dest, source in plan:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.gitvault-tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        return [dest for dest, _ in plan]

    def _verified(self, item: FileItem) -> FileBlob:
        blobs = self.caches.blobs
        blobs.open(str(item["blob"])).close()  # sha256 checked (once per process per file)
        return cast("FileBlob", {**item, "path": str(blobs.path(str(item["blob"])))})


def out_name(item: FileItem) -> str:
    """The relative path a file is written out under: its name, and for an image its step and the
    extension of its type (``samples/pred`` at step 3 -> ``samples/pred.step3.png``)."""
    name = item["name"]
    if item["kind"] != "image":
        return name
    if item["step"] is not None:
        name += f".step{item['step']}"
    extension = {"image/png": ".png", "image/svg+xml": ".svg"}.get(str(item["media_type"]), "")
    return name if name.lower().endswith(extension) else name + extension


def _missing(run: str, name: str, step: Any, items: list[FileItem]) -> str:
    names = sorted({i["name"] for i in items})
    at = f" at step {step}" if step is not None else ""
    steps = sorted(i["step"] for i in items if i["name"] == name and i["step"] is not None)
    if steps and step is not None:
        return f"run {run} has no {name!r} at step {step}; its steps: {_steps_text(steps)}"
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return f"run {run} has no file or image {name!r}{at}; it has: {shown or 'none'} (git vault files {run})"


def _steps_text(steps: list[int]) -> str:
    return ", ".join(map(str, steps[:10])) + (f" ... {steps[-1]} ({len(steps)} steps)" if len(steps) > 10 else "")


OPEN_ENV = "GITVAULT_OPEN"
"""A command to open files with instead of the system's (``xdg-open``; ``open`` on macOS), e.g. ``feh``."""


def viewer_command() -> list[str]:
    """The command that opens a file with the system's viewer (`OPEN_ENV` first); `QueryError`
    when there is none."""
    import shlex
    import sys

    command = shlex.split(os.environ.get(OPEN_ENV, "")) or (["open"] if sys.platform == "darwin" else ["xdg-open"])
    if shutil.which(command[0]) is None:
        raise QueryError(f"no program to open files with ({command[0]} is not installed); set {OPEN_ENV} to one "
                         "(e.g. feh, eog) or write the file out with --out DIR")
    return command


def open_externally(item: FileBlob) -> Path:
    """Start the system viewer on a copy of the file named as it was logged (a viewer needs the
    extension; the blob itself stays read-only in the store), in a new temporary folder. Returns
    the copy; the viewer runs on its own, detached from this terminal."""
    import subprocess
    import tempfile

    command = viewer_command()
    folder = Path(tempfile.mkdtemp(prefix="gitvault-open-"))
    copy = folder / (PurePosixPath(out_name(item)).name or "file")
    shutil.copyfile(item["path"], copy)
    subprocess.Popen([*command, str(copy)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
    return copy
