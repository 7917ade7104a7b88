"""Validation of every user-supplied name before anything is written.

Names never reach a tree path or a file path directly (records are addressed by ids), but they are
shown in terminals, used as file names for exports and as SQL identifiers, so one set of rules
applies everywhere.

Metric, curve, param, table, text and tensor names, and model names, may hold ``/`` (``val/loss``,
W&B's, Lightning's and TensorBoard's convention for grouping): `check_name` with
``allow_slash=True`` accepts them, segment by segment, so that such a name could be laid out as a
relative path without leaving its folder: no empty segment (``a//b``, a leading or trailing
``/``), no ``.`` or ``..`` segment, no backslash. `metric_group` gives the prefix they are grouped
by where metrics are listed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from gitvault.errors import InvalidNameError

MAX_NAME_BYTES = 255
_JOINERS = "\u200c\u200d"  # ZWNJ/ZWJ: emoji sequences, Persian and Indic words
_SPECIMEN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,119}$")


def check_name(value: object, what: str, *, allow_slash: bool = False) -> str:
    """Return ``value`` if it is a storable name, else raise `InvalidNameError` naming ``what``."""
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if value == "" or value.strip() == "":
        raise InvalidNameError(f"{what} is empty; give it a name")
    if value != value.strip():
        raise InvalidNameError(f"{what} {value!r} has leading or trailing whitespace; remove it")
    for ch in value:
        if (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in _JOINERS) or ch in "\u2028\u2029":
            raise InvalidNameError(
                f"{what} {value!r} contains the control character U+{ord(ch):04X}; remove it"
            )
    if "\\" in value:
        raise InvalidNameError(f"{what} {value!r} contains a backslash; use '/', '-' or '_' instead")
    if not allow_slash and "/" in value:
        raise InvalidNameError(f"{what} {value!r} contains a path separator; use '-' or '_' instead")
    if value in (".", ".."):
        raise InvalidNameError(f"{what} {value!r} is not allowed; give it a name other than '.' or '..'")
    if allow_slash and "/" in value:
        for part in value.split("/"):
            if part in (".", "..", ""):
                raise InvalidNameError(
                    f"{what} {value!r} has an empty, '.' or '..' segment between slashes; write it like "
                    "'val/loss' (no leading, trailing or doubled '/')")
            if part != part.strip():
                raise InvalidNameError(f"{what} {value!r} has whitespace around a '/'; remove it")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidNameError(f"{what} is {len(value.encode())} bytes long; the limit is {MAX_NAME_BYTES}")
    return value


def metric_group(name: str) -> str:
    """The group a metric is listed under: the part of its name before the last ``/``
    (``"val/loss"`` -> ``"val"``, ``"a/b/c"`` -> ``"a/b"``), ``""`` for a name without one."""
    head, sep, _ = name.rpartition("/")
    return head if sep else ""


def check_specimen_id(value: object) -> str:
    """Specimen ids become SQL view names (``exp_<id>``): letters, digits, ``_`` and ``-``."""
    check_name(value, "specimen id")
    assert isinstance(value, str)
    if not _SPECIMEN_ID.match(value):
        raise InvalidNameError(
            f"specimen id {value!r} may only hold letters, digits, '_' and '-' (max 120), "
            "starting with a letter or digit, e.g. 2024_12_19_my_experiment"
        )
    return value


def parse_hierarchy(text: object) -> list[str]:
    """Parse ``"benchmark > model > variant"`` into its level names."""
    if not isinstance(text, str):
        raise InvalidNameError(f"hierarchy must be a string like 'benchmark > model', got {text!r}")
    levels = [part.strip() for part in text.split(">")]
    if not text.strip() or any(level == "" for level in levels):
        raise InvalidNameError(
            f"hierarchy {text!r} has an empty level; write levels separated by '>', "
            "e.g. 'benchmark > model > variant'"
        )
    for level in levels:
        check_name(level, "hierarchy level")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_\-]*$", level):
            raise InvalidNameError(
                f"hierarchy level {level!r} must start with a letter and hold only letters, "
                "digits, '_' or '-'"
            )
    if len(set(levels)) != len(levels):
        raise InvalidNameError(f"hierarchy {text!r} repeats a level; each level name must be unique")
    return levels


def stable_id(*parts: str) -> str:
    """A deterministic id from content, so two clones creating the same thing converge."""
    h = hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()
    return h[:26]
