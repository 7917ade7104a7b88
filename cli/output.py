"""How the CLI prints: aligned tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

from gitvault import jsonsafe

V = TypeVar("V")


SPELLED = {"nan": jsonsafe.NAN, "inf": jsonsafe.INFINITY, "-inf": jsonsafe.MINUS_INFINITY,
           jsonsafe.NAN: jsonsafe.NAN, jsonsafe.INFINITY: jsonsafe.INFINITY, jsonsafe.MINUS_INFINITY: jsonsafe.MINUS_INFINITY}


def finite(value: Any) -> bool:
    """A number that can be the best of a column: not a bool, NaN or an infinity."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any) -> str:
    """A metric in a table: 4 significant digits below 10,000 (0.8981), every digit of the
    integer part above (123456.8, not 1.235e+05), integers as they are; NaN and infinities
    spelled as every surface spells them (`gitvault.jsonsafe`: NaN, Infinity, -Infinity)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(jsonsafe.clean(value))
        if abs(value) >= 1e4 and abs(value) < 1e16:
            return f"{value:.1f}".removesuffix(".0")
        return f"{value:.4g}"
    if isinstance(value, str) and value in SPELLED:
        return SPELLED[value]
    return str(value)


def value_text(value: Any) -> str:
    """A config or param value as written: ``0.3`` (not 0.30000000000000004: 15 significant
    digits, as a float32 or a sum of decimals was meant), ints with every digit, ``1.0`` stays a
    float, text as is, lists and tables as JSON; NaN and infinities as in `number`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(jsonsafe.clean(value))
        text = f"{value:.15g}"
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(value_text(v) if not isinstance(v, str) else jsonsafe.dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{jsonsafe.dumps(str(k))}: " + (jsonsafe.dumps(v) if isinstance(v, str) else value_text(v))
                               for k, v in value.items()) + "}"
    return "" if value is None else str(value)


def written(value: Any) -> str:
    """A config value as written: text quoted (``'cosine'``), the rest as `value_text` (0.3)."""
    return repr(value) if isinstance(value, str) else value_text(value)


def listed(items: Sequence[str], most: int = 5) -> str:
    """``a, b, c`` for a message; past ``most`` the rest are counted, never silently cut:
    ``a, b, c, d, e (and 3 more)``."""
    more = f" (and {len(items) - most} more)" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def tags_text(tags: Sequence[Any] | None, sep: str = ",") -> str:
    """Tags joined by ``sep``; a tag holding a comma, a quote or outer spaces is quoted (JSON), so
    ``["a,b", "c"]`` reads ``"a,b",c`` and never as three tags."""
    out = []
    for tag in tags or []:
        text = str(tag)
        out.append(jsonsafe.dumps(text) if ("," in text or '"' in text or text != text.strip() or not text) else text)
    return sep.join(out)


def group_of(name: str) -> str:
    """``val/loss`` -> ``val``; ``""`` for a name without ``/`` (W&B-style metric groups)."""
    head, sep, _ = name.rpartition("/")
    return head if sep else ""


def grouped(named: Mapping[str, V]) -> list[tuple[str, V]]:
    """Items ordered by group, then name: names without ``/`` first, then ``train/...``,
    ``val/...`` side by side."""
    return sorted(named.items(), key=lambda kv: (group_of(kv[0]) != "", group_of(kv[0]), kv[0]))


def headline(metric_maps: Iterable[Mapping[str, Any] | None], most: int = 6) -> list[str]:
    """The headline metrics of a listing: those at least half as common as the most common one
    (up to ``most``, the more common first, then by name), in group order (``val/acc`` beside
    ``val/loss``)."""
    counts: dict[str, int] = {}
    for metrics in metric_maps:
        for name in metrics or {}:
            counts[name] = counts.get(name, 0) + 1
    top = max(counts.values(), default=0)
    chosen = sorted((n for n in counts if 2 * counts[n] >= top), key=lambda n: (-counts[n], n))[:most]
    return [n for n, _ in grouped(dict.fromkeys(chosen))]


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
