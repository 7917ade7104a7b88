"""How the CLI prints: aligned tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterable, Iterator, Sequence

from gitvault import jsonsafe
from gitvault.display import value_text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, bool)):
        return value_text(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return jsonsafe.dumps(dict(sorted(value.items())))
    return str(value)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Any = None) -> None:
    """Aligned columns with a header; long cells are cut with an ellipsis."""
    out = out or sys.stdout
    if not rows:
        out.write("(none)\n")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [min(60, max(len(c), *(len(r[i]) for r in cells))) for i, c in enumerate(columns)]
    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(fit(v, w).ljust(w) for v, w in zip(row, widths)).rstrip() + "\n")


def dumps_json(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON through the one value encoder (`gitvault.jsonsafe`: NaN and infinities as
    "NaN", "Infinity", "-Infinity")."""
    return jsonsafe.dumps(value, indent=indent)


def print_json(value: Any, out: Any = None) -> None:
    """Indented for a person at a terminal, compact (and fast) for scripts."""
    stream = out or sys.stdout
    stream.write(dumps_json(value, indent=2 if _isatty(stream) else None) + "\n")


def _isatty(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def print_lines(lines: Iterable[str], out: Any = None) -> None:
    out = out or sys.stdout
    for line in lines:
        out.write(line + "\n")


# -- the pager -------------------------------------------------------------------------------------

_PAGING = False


def pager_in_use() -> bool:
    """True while a command's output goes to the pager (colour stays on, as in git)."""
    return _PAGING


def pager_command(cwd: str | None, settings: dict[str, str] | None = None) -> str:
    """The pager git would use: ``GIT_PAGER``, then ``core.pager``, then ``PAGER``, then ``less``
    (empty or ``cat``: none). ``settings``: the repository's git config as discovered
    (`RepoPaths.settings`), else git is asked."""
    if "GIT_PAGER" in os.environ:
        return os.environ["GIT_PAGER"].strip()
    if settings is None:
        import subprocess  # here: `git vault -h` and every command that prints little never load it

        proc = subprocess.run(["git", "config", "--get", "core.pager"], cwd=cwd, capture_output=True, text=True)
        settings = {"core.pager": proc.stdout.strip()} if proc.returncode == 0 else {}
    if "core.pager" in settings:
        return settings["core.pager"].strip()
    if "PAGER" in os.environ:
        return os.environ["PAGER"].strip()
    return "less"


def add_pager(p: Any) -> None:
    """``--no-pager`` on a command whose long output goes to the pager on a terminal."""
    p.add_argument("--no-pager", dest="no_pager_here", action="store_true",
                   help="print straight to the terminal, without a pager")
    p.set_defaults(pages=True)


@contextlib.contextmanager
def paged(enabled: bool, cwd: str | None = None, settings: dict[str, str] | None = None) -> Iterator[None]:
    """Send stdout through the pager when ``enabled`` and stdout is a terminal (never otherwise:
    pipes, files and scripts get the text as it is). ``LESS=FRX`` unless set, as git does: less
    exits at once when the text fits the screen, keeps colours and leaves the text on screen."""
    global _PAGING
    if not enabled or not _isatty(sys.stdout):
        yield
        return
    command = pager_command(cwd, settings)
    if not command or command == "cat":
        yield
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    sys.stdout.flush()
    import subprocess

    try:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env, cwd=cwd,
                                encoding=sys.stdout.encoding or "utf-8", errors="replace")
    except OSError:
        yield  # no such pager: print as is
        return
    before, sys.stdout = sys.stdout, proc.stdin  # type: ignore[assignment]
    _PAGING = True
    try:
        yield
    finally:
        _PAGING = False
        sys.stdout = before
        with contextlib.suppress(BrokenPipeError, OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        while True:
            try:
                proc.wait()
                break
            except KeyboardInterrupt:  # less handles ^C itself; wait for it to exit
                continue
