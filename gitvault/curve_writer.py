"""``run.curve``: a function generated for the run's curve names.

A method taking ``**values`` pays, on every call, for a dict and a loop that type-checks it. A
function whose curve names are real keyword parameters pays for neither: the arguments land in
local variables, each float is checked by one ``type(x) is not float``, and the call appends one
packed record ``step (int64), clock, v1, ..., vk (float64)`` to its buffer, a ``bytearray``, with
one ``extend`` (atomic under the GIL, so threads sharing a run never interleave half records;
nothing the call made is kept alive, so a run allocates nothing per point). That halves the cost
of a call, and sealing reads the buffer as a numpy array without converting a Python object.

A curve absent from a call is stored as `MISSING`, a NaN with a payload of its own (`MISSING_BITS`;
arithmetic never produces it, so a logged NaN stays a NaN). The fast path takes floats and the
ints a double can hold. Every other call (a new curve name, a value of another type, a bad step,
a name that is not a Python identifier) goes to the run's validating slow path, which raises, or
converts, registers a new name and generates the next version.
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
import struct
from types import CodeType
from typing import Any, Callable

MAX_FAST_NAMES = 16


MISSING_BITS = 0x7FF8_6776_0000_0001  # a quiet NaN: "gv" and a 1 in its payload
MISSING: float = struct.unpack("<d", struct.pack("<Q", MISSING_BITS))[0]


def fast_name(name: str) -> bool:
    """A curve name the generated function can take as a keyword parameter."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_gv_") and name != "step"


def given(pairs: tuple[tuple[str, Any], ...], extra: dict[str, Any]) -> dict[str, Any]:
    """The values dict of a call, rebuilt for the slow path."""
    values = {name: value for name, value in pairs if value is not MISSING}
    values.update(extra)
    return values


def namespace(slow: Callable[[Any, dict[str, Any]], None], clock: Callable[[], float]) -> dict[str, Any]:
    """The globals every version of one run's ``curve`` shares."""
    return {"__builtins__": builtins, "_gv_M": MISSING, "_gv_clock": clock, "_gv_slow": slow,
            "_gv_given": given, "_gv_type": type, "_gv_float": float, "_gv_int": int}


def new_buffer() -> bytearray:
    return bytearray()


def record_packer(width: int) -> Callable[..., bytes]:
    """Packs one record: the step as int64, then ``width - 1`` float64s (clock and values)."""
    return struct.Struct("<q" + "d" * (width - 1)).pack


def generate(ns: dict[str, Any], version: int, names: list[str], buffer: bytearray) -> Callable[..., None]:
    """Version ``version`` of ``curve`` for record layout ``names`` (in order), appending to
    ``buffer``. (Its size is watched by the run's flusher thread, not here.)"""
    ns[f"_gv_pack_{version}"] = record_packer(2 + len(names))
    switch(ns, version, buffer.extend)
    exec(_compiled(version, tuple(names)), ns)
    fn = ns[f"_gv_curve_{version}"]
    fn.__name__ = fn.__qualname__ = "curve"
    return fn


@functools.lru_cache(maxsize=256)
def _compiled(version: int, names: tuple[str, ...]) -> CodeType:
    """The code defining one version (compiling costs ~0.2 ms; a sweep of short runs reuses it)."""
    params = [n for n in names if fast_name(n)]
    cells = [n if n in params else "_gv_M" for n in names]
    # values are keyword-only (a positional value would land in whichever curve came first), and
    # the builtins are reached as _gv_* names: a curve may be called "type", "int" or "float"
    signature = ", ".join(["step", *(["*"] if params else []), *(f"{n}=_gv_M" for n in params), "**_gv_extra"])
    checks = "".join(f"\n            or (_gv_type({n}) is not _gv_float and (_gv_type({n}) is not _gv_int "
                     f"or not -1e308 < {n} < 1e308))" for n in params)
    pairs = "".join(f"({n!r}, {n}), " for n in params)
    source = f'''
def _gv_curve_{version}({signature}):
    """Append one point per value at ``step`` (an int >= 0; values are floats or ints: bool and
    str raise TypeError). The same (curve, step) logged twice keeps the latest value."""
    if (_gv_extra or _gv_type(step) is not _gv_int or not 0 <= step < 9223372036854775808{checks}):
        return _gv_slow(step, _gv_given(({pairs}), _gv_extra))
    _gv_put_{version}(_gv_pack_{version}(step, _gv_clock(), {", ".join(cells)}))
'''
    return compile(source, f"<gitvault run.curve v{version}>", "exec")


def switch(ns: dict[str, Any], version: int, put: Callable[[Any], None]) -> None:
    """Point version ``version``'s appends at ``put`` (the buffer's extend, or a raiser)."""
    ns[f"_gv_put_{version}"] = put
