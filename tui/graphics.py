"""Which pictures this terminal can draw: asked of the terminal, never guessed from its name alone.

Before the screen is taken, the terminal is sent five queries and its answers are read in cbreak
mode until the answer to the last one, primary device attributes (DA1), which every terminal
sends: the kitty graphics query (kitty and Ghostty answer ``ESC _Gi=31;OK ESC \\``), XTVERSION
(``ESC P >| name version ESC \\``: kitty, Ghostty, iTerm2, WezTerm, xterm, foot...), the cell size
in pixels (``ESC [ 6 ; height ; width t``), the number of sixel colour registers (XTSMGRAPHICS,
``ESC [ ? 1 ; 0 ; n S``: xterm's VT340 has 16 unless configured) and DA1 itself (an attribute 4
means sixel).

- kitty's Unicode placeholders (the picture's cells are text prompt_toolkit draws): the kitty query
  answered OK by kitty 0.28 or later, or by Ghostty (other terminals answer the query, WezTerm
  among them, without drawing placeholders);
- iTerm2's inline images (OSC 1337): XTVERSION names iTerm2 or WezTerm, or ``TERM_PROGRAM`` is
  ``iTerm.app`` and ``LC_TERMINAL`` is ``iTerm2``;
- sixel: DA1 lists 4, and the cell size is known (from the answer, or the tty's pixel size);
- else half blocks. Inside tmux or screen the answers would be the multiplexer's, not the outer
  terminal's: half blocks, no query. ``TERM=linux``, ``dumb`` or Emacs' ``eterm``: half blocks,
  no query.

``GITVAULT_IMAGES=kitty|iterm2|sixel|blocks`` forces a kind (no capability query; a sixel cell
size is still measured when stdin and stdout are a terminal, else assumed 10x20 pixels).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, TextIO

if TYPE_CHECKING:
    from prompt_toolkit.output import ColorDepth

MODES = ("kitty", "iterm2", "sixel", "blocks")
ENV = "GITVAULT_IMAGES"
TIMEOUT = 1.0
"""Seconds to wait for the terminal's answers (a terminal answers DA1 within milliseconds; this
is spent only on one that never does)."""
ASSUMED_CELL = (10, 20)

KITTY_QUERY = b"\x1b_Gi=31,s=1,v=1,a=q,t=d,f=24;AAAA\x1b\\"
XTVERSION = b"\x1b[>q"
CELL_SIZE = b"\x1b[16t"
REGISTERS = b"\x1b[?1;1S"
DA1 = b"\x1b[c"
QUERIES = KITTY_QUERY + XTVERSION + CELL_SIZE + REGISTERS + DA1

_KITTY_ANSWER = re.compile(rb"\x1b_Gi=31;([^\x1b]*)\x1b\\")
_NAME_ANSWER = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_CELL_ANSWER = re.compile(rb"\x1b\[6;(\d+);(\d+)t")
_DA1_ANSWER = re.compile(rb"\x1b\[\?([\d;]*)c")
_REGISTERS_ANSWER = re.compile(rb"\x1b\[\?1;0;(\d+)S")
_KITTY_VERSION = re.compile(r"kitty\((\d+)\.(\d+)")


@dataclass(frozen=True)
class Graphics:
    """How pictures are drawn: ``mode`` (one of `MODES`), a cell's (width, height) in pixels when
    known, how that was decided (``why``), a bad `ENV` value to report (``problem``), and how
    many colours a sixel picture may use (``registers``)."""

    mode: str
    cell: tuple[int, int] | None = None
    why: str = ""
    problem: str = ""
    registers: int = 256


@dataclass(frozen=True)
class Answers:
    """What the terminal said: the kitty query's answer, its XTVERSION name, its cell size, its
    sixel colour registers, and DA1's attributes (None: no DA1 answer, the terminal never answered)."""

    kitty: str = ""
    name: str = ""
    cell: tuple[int, int] | None = None
    registers: int | None = None
    attributes: tuple[str, ...] | None = None


def parse(data: bytes) -> Answers:
    """The answers found in what the terminal sent back (in any order; unknown bytes ignored)."""
    kitty, name, cell, da1 = (_KITTY_ANSWER.search(data), _NAME_ANSWER.search(data), _CELL_ANSWER.search(data),
                              _DA1_ANSWER.search(data))
    registers = _REGISTERS_ANSWER.search(data)
    return Answers(kitty=kitty.group(1).decode("ascii", "replace") if kitty else "",
                   name=name.group(1).decode("utf-8", "replace").strip() if name else "",
                   cell=(int(cell.group(2)), int(cell.group(1))) if cell and int(cell.group(1)) and int(cell.group(2)) else None,
                   registers=int(registers.group(1)) if registers and int(registers.group(1)) >= 2 else None,
                   attributes=tuple(da1.group(1).decode("ascii").split(";")) if da1 else None)


def probe(fd_in: int, fd_out: int, timeout: float = TIMEOUT) -> bytes:
    """Send `QUERIES` to ``fd_out`` and read ``fd_in`` (in cbreak mode, restored after) until
    the DA1 answer or ``timeout`` seconds; what came."""
    import select
    import termios
    import tty

    saved = termios.tcgetattr(fd_in)
    data = b""
    try:
        tty.setcbreak(fd_in, termios.TCSANOW)
        os.write(fd_out, QUERIES)
        deadline = time.monotonic() + timeout
        while not _DA1_ANSWER.search(data):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 4096)
            if not chunk:
                break
            data += chunk
    finally:  # answers still on their way after a timeout are dropped, not read as keys
        termios.tcsetattr(fd_in, termios.TCSANOW if _DA1_ANSWER.search(data) else termios.TCSAFLUSH, saved)
    return data


def tty_cell(fd: int) -> tuple[int, int] | None:
    """A cell's pixel size from the tty's window size (TIOCGWINSZ), when the terminal fills it in."""
    import fcntl
    import struct
    import termios

    try:
        rows, cols, width, height = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (width // cols, height // rows) if rows and cols and width >= cols and height >= rows else None


def decide(answers: Answers, env: Mapping[str, str], cell: tuple[int, int] | None = None,
           timeout: float = TIMEOUT) -> Graphics:
    """The mode the answers allow (``cell``: a fallback cell size, e.g. from `tty_cell`; ``timeout``:
    how long the answers were waited for)."""
    cell = answers.cell or cell
    if answers.attributes is None:
        return Graphics("blocks", cell, f"the terminal did not answer within {timeout:g} s")
    name = answers.name
    version = _KITTY_VERSION.match(name)
    placeholders = (version is not None and (int(version.group(1)), int(version.group(2))) >= (0, 28)) \
        or name.lower().startswith("ghostty")
    if answers.kitty == "OK" and placeholders:
        return Graphics("kitty", cell, f"{name} answered the kitty graphics query")
    if name.startswith(("iTerm2", "WezTerm")):
        return Graphics("iterm2", cell, f"the terminal is {name}")
    if env.get("TERM_PROGRAM") == "iTerm.app" and env.get("LC_TERMINAL") == "iTerm2":
        return Graphics("iterm2", cell, "TERM_PROGRAM=iTerm.app and LC_TERMINAL=iTerm2")
    if "4" in answers.attributes:
        if cell is None:
            return Graphics("blocks", None, "the terminal draws sixel but did not say its cell size in pixels")
        return Graphics("sixel", cell, "the terminal's device attributes list sixel", registers=sixel_colours(answers))
    return Graphics("blocks", cell, "the terminal draws no pictures (kitty, iTerm2 or sixel)")


def sixel_colours(answers: Answers) -> int:
    """The colours a sixel picture may use: the terminal's registers (256 at most), 256 when it
    did not say."""
    return min(256, answers.registers or 256)


def colour_depth(env: Mapping[str, str]) -> ColorDepth | None:
    """24-bit colours (a prompt_toolkit `ColorDepth`) where ``$COLORTERM`` says the terminal has
    them (``truecolor``, ``24bit``), which prompt_toolkit does not look at (it draws 256 colours on
    every terminal but a few); None, prompt_toolkit's own choice, otherwise or when
    ``PROMPT_TOOLKIT_COLOR_DEPTH`` or ``NO_COLOR`` is set."""
    from prompt_toolkit.output import ColorDepth

    if "PROMPT_TOOLKIT_COLOR_DEPTH" in env or "NO_COLOR" in env:
        return None
    return ColorDepth.DEPTH_24_BIT if env.get("COLORTERM", "").lower() in ("truecolor", "24bit") else None


def forced(env: Mapping[str, str]) -> Graphics | None:
    """The mode `ENV` forces, if it is set (a bad value: half blocks and the problem named)."""
    value = env.get(ENV, "").strip().lower()
    if not value:
        return None
    if value not in MODES:
        return Graphics("blocks", None, f"{ENV} is not valid",
                        f"{ENV}={env[ENV]} is not one of {', '.join(MODES)}: half blocks are drawn (unset it to ask the terminal)")
    return Graphics(value, None, f"{ENV}={value}")


def multiplexed(env: Mapping[str, str]) -> str:
    """Why the terminal is not asked (tmux, screen, a terminal of no graphics), or ''."""
    term = env.get("TERM", "")
    if env.get("TMUX") or term.startswith(("tmux", "screen")) or env.get("STY"):
        return "inside tmux or screen (their answers are not the outer terminal's)"
    if term in ("linux", "dumb", "") or term.startswith(("eterm", "emacs")):
        return f"TERM={term or '(unset)'} draws no pictures"
    return ""


def detect(fd_in: int, fd_out: int, env: Mapping[str, str], timeout: float = TIMEOUT) -> Graphics:
    """The graphics of the terminal on ``fd_in``/``fd_out`` (both a tty), `ENV` first."""
    chosen = forced(env)
    if chosen is not None and chosen.mode != "sixel":
        return chosen
    if chosen is not None:  # forced sixel: only its cell size and colours are asked
        answers = parse(probe(fd_in, fd_out, timeout))
        return Graphics("sixel", answers.cell or tty_cell(fd_out) or ASSUMED_CELL, chosen.why,
                        registers=sixel_colours(answers))
    why = multiplexed(env)
    if why:
        return Graphics("blocks", None, why)
    return decide(parse(probe(fd_in, fd_out, timeout)), env, tty_cell(fd_out), timeout)


def for_terminal(stdin: TextIO, stdout: TextIO, env: Mapping[str, str]) -> Graphics:
    """`detect` when stdin and stdout are a terminal; else what `ENV` forces, or half blocks."""
    try:
        ttys = stdin.isatty() and stdout.isatty()
        fds = (stdin.fileno(), stdout.fileno()) if ttys else None
    except (OSError, ValueError):
        fds = None
    if fds is None:
        return without_terminal(env)
    try:
        return detect(fds[0], fds[1], env)
    except Exception as exc:  # noqa: BLE001 - termios.error, no termios (Windows)...: the TUI starts anyway
        chosen = without_terminal(env)
        return Graphics(chosen.mode, chosen.cell, f"the terminal could not be asked ({type(exc).__name__}: {exc})",
                        chosen.problem)


def without_terminal(env: Mapping[str, str]) -> Graphics:
    """What `ENV` forces when there is no terminal to ask (a forced sixel assumes its cell size)."""
    chosen = forced(env) or Graphics("blocks", None, "not a terminal")
    return Graphics(chosen.mode, ASSUMED_CELL, chosen.why, chosen.problem) if chosen.mode == "sixel" else chosen
