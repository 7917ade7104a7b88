"""``run.curve``: a function generated for the run's curve names.

A method taking ``**values`` pays, on every call, for a dict and a loop that type-checks it. A
function whose curve names are real keyword parameters pays for neither: the arguments land in
local variables, each float is checked by one ``type(x) is not float``, and the call appends one
flat record ``step, clock, v1, ..., vk`` to its buffer with one ``list.extend`` (atomic under the
GIL, so threads sharing a run never interleave half records). That halves the cost of a call.

A curve absent from a call is stored as `MISSING`. Every call the generated code cannot take (a
new curve name, a bad value or step, a name that is not a Python identifier) goes to the run's
validating slow path, which raises, or registers the new name and generates the next version.
Each version owns its buffer (its record width is fixed). All versions of a run share one globals
dict, so the run switches every one of them off at once (finish, fork) by rebinding their
``_gv_put_<version>`` to a function that raises.

At most `MAX_FAST_NAMES` curve names get parameters; later names go through the slow path, so a
run logging a few hundred sparse curves does not pay for hundreds of empty slots per call.
"""

from __future__ import annotations

import builtins
import functools
import keyword
from types import CodeType
from typing import Any, Callable

MAX_FAST_NAMES = 16


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def fast_name(name: str) -> bool:
    """A curve name the generated function can take as a keyword parameter."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_gv_") and name != "step"


def given(pairs: tuple[tuple[str, Any], ...], extra: dict[str, Any]) -> dict[str, Any]:
    """The values dict of a call, rebuilt for the slow path."""
    values = {name: value for name, value in pairs if value is not MISSING}
    values.update(extra)
    return values


def namespace(slow: Callable[[Any, dict[str, Any]], None], flush: Callable[[], None],
              clock: Callable[[], float]) -> dict[str, Any]:
    """The globals every version of one run's ``curve`` shares."""
    return {"__builtins__": builtins, "_gv_M": MISSING, "_gv_clock": clock, "_gv_slow": slow,
            "_gv_flush": flush, "_gv_given": given}


def generate(ns: dict[str, Any], version: int, names: list[str], buffer: list[Any], flush_at: int) -> Callable[..., None]:
    """Version ``version`` of ``curve`` for record layout ``names`` (in order), appending to
    ``buffer`` and flushing once it holds ``flush_at`` items."""
    attach(ns, version, buffer)
    switch(ns, version, buffer.extend)
    exec(_compiled(version, tuple(names), int(flush_at)), ns)
    fn = ns[f"_gv_curve_{version}"]
    fn.__name__ = fn.__qualname__ = "curve"
    return fn


@functools.lru_cache(maxsize=256)
def _compiled(version: int, names: tuple[str, ...], flush_at: int) -> CodeType:
    """The code defining one version (compiling costs ~0.2 ms; a sweep of short runs reuses it)."""
    params = [n for n in names if fast_name(n)]
    cells = [n if n in params else "_gv_M" for n in names]
    signature = ", ".join(["step", *(f"{n}=_gv_M" for n in params), "**_gv_extra"])
    checks = "".join(f"\n            or (type({n}) is not float and {n} is not _gv_M and type({n}) is not int)"
                     for n in params)
    pairs = "".join(f"({n!r}, {n}), " for n in params)
    source = f'''
def _gv_curve_{version}({signature}):
    """Append one point per value at ``step`` (an int >= 0; values are floats or ints: bool and
    str raise TypeError). The same (curve, step) logged twice keeps the latest value."""
    if (_gv_extra or type(step) is not int or not 0 <= step < 9223372036854775808{checks}):
        return _gv_slow(step, _gv_given(({pairs}), _gv_extra))
    _gv_put_{version}((step, _gv_clock(), {"".join(c + ", " for c in cells)}))
    if len(_gv_buf_{version}) >= {int(flush_at)}:
        _gv_flush()
'''
    return compile(source, f"<gitvault run.curve v{version}>", "exec")


def attach(ns: dict[str, Any], version: int, buffer: list[Any]) -> None:
    """Make ``buffer`` the one version ``version`` measures (``switch`` points its appends)."""
    ns[f"_gv_buf_{version}"] = buffer


def switch(ns: dict[str, Any], version: int, put: Callable[[Any], None]) -> None:
    """Point version ``version``'s appends at ``put`` (the buffer's extend, or a raiser)."""
    ns[f"_gv_put_{version}"] = put
