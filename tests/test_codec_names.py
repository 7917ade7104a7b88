"""Bad input to every public function of the core: each a clear error, the vault unchanged.
Odd but valid Unicode names are accepted and round-trip exactly."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitvault import (
    ConfigError,
    CorruptRecordError,
    InvalidNameError,
    RecordNotFoundError,
    Transaction,
    Vault,
    VaultConfig,
    VaultNotInitializedError,
)
from gitvault.storage import codec, layout, records
from gitvault.names import MAX_NAME_BYTES, check_name, check_specimen_id, parse_hierarchy, stable_id
from tests.conftest import git

ODD_NAMES = [
    "café au lait",            # accented (NFC)
    "cafe\u0301",              # the same word with a combining accent (NFD): kept as is
    "Zoë_β-νέο",               # Greek with diacritics
    "実験 ベースライン",         # CJK and kana
    "실험",                     # Hangul
    "🧪 probe 🔬",              # emoji
    "👩‍🔬 scientist",           # emoji ZWJ sequence
    "🇫🇷 run",                  # flag (regional indicators)
    "❤️ heart",                 # emoji with a variation selector
    "تجربة النموذج",            # Arabic (right to left)
    "ניסוי",                    # Hebrew
    "می‌خواهم",                 # Persian with a zero-width non-joiner
    "a\u0301\u0302\u0303",     # stacked combining marks
    "x" * MAX_NAME_BYTES,       # exactly at the limit
    "ü" * (MAX_NAME_BYTES // 2),
]

BAD_NAMES = [
    ("", "empty"),
    ("   ", "empty"),
    ("\t\n", "empty"),
    (" lead", "whitespace"),
    ("trail ", "whitespace"),
    ("a/b", "path separator"),
    ("a\\b", "backslash"),
    ("..", "not allowed"),
    (".", "not allowed"),
    ("nul\x00byte", "U+0000"),
    ("bell\x07", "U+0007"),
    ("esc\x1b[31m", "U+001B"),
    ("line\nbreak", "U+000A"),
    ("del\x7f", "U+007F"),
    ("rlo\u202eevil", "U+202E"),      # bidi override (trojan-source)
    ("zw\u200bspace", "U+200B"),
    ("sep\u2028x", "U+2028"),
    ("x" * (MAX_NAME_BYTES + 1), "limit"),
    ("é" * 128, "limit"),            # 256 bytes in UTF-8
    (None, "must be a string"),
    (42, "must be a string"),
    (b"bytes", "must be a string"),
]


def tip(repo: Path) -> str:
    return git(repo, "rev-parse", "refs/vault/main").stdout.strip()


@pytest.fixture(scope="module")
def shared_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One vault for the tests of this module (each uses its own record ids)."""
    root = tmp_path_factory.mktemp("shared") / "project"
    root.mkdir()
    git(root, "init", "-q")
    Vault.open(root).init(VaultConfig.default())
    return root


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_unicode_names_are_accepted_and_round_trip(shared_vault: Path, name: str) -> None:
    assert check_name(name, "experiment name") == name
    vault = Vault.open(shared_vault)
    path = f"bench/{name}"
    exp_id = records.experiment_id(path)
    tx = Transaction(message=f"add experiment {name}")
    tx.put("experiment", exp_id, {"path": path, "name": name, "tags": [name]})
    tx.add_event("experiment", exp_id, "tag", {"tags": [name + "!"]})
    vault.commit(tx)
    snap = Vault.open(shared_vault).snapshot()
    stored = snap.get("experiment", exp_id)
    assert stored["name"] == name and stored["path"] == path
    assert stored["name"].encode("utf-8") == name.encode("utf-8")  # no normalisation
    assert records.fold(stored, snap.events("experiment", exp_id))["tags"] == [name, name + "!"]


def test_nfc_and_nfd_names_stay_distinct(shared_vault: Path) -> None:
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    assert records.experiment_id(nfc) != records.experiment_id(nfd)
    vault = Vault.open(shared_vault)
    tx = Transaction(message="two spellings")
    for name in (nfc, nfd):
        tx.put("experiment", records.experiment_id(name), {"path": name, "name": name})
    vault.commit(tx)
    snap = vault.snapshot()
    assert [snap.get("experiment", records.experiment_id(n))["name"] for n in (nfc, nfd)] == [nfc, nfd]


@pytest.mark.parametrize(("bad", "message"), BAD_NAMES)
def test_bad_names_are_refused_with_a_clear_message(bad: Any, message: str) -> None:
    with pytest.raises(InvalidNameError, match="tag") as err:
        check_name(bad, "tag")
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)  # callers may catch the standard type too


def test_slash_is_allowed_only_where_asked() -> None:
    assert check_name("a/b/c", "artifact path", allow_slash=True) == "a/b/c"
    for bad in ("a/../b", "../x", "a//b", "/abs", "a/./b", "a/"):
        with pytest.raises(InvalidNameError, match="artifact path"):
            check_name(bad, "artifact path", allow_slash=True)


@given(st.text(max_size=40))
@settings(max_examples=150, deadline=None)
def test_check_name_accepts_unchanged_or_refuses_cleanly(text: str) -> None:
    try:
        assert check_name(text, "name") is text
    except InvalidNameError as exc:
        assert str(exc).startswith("name")
    else:
        assert text.strip() and "/" not in text and "\x00" not in text and text not in (".", "..")


@pytest.mark.parametrize("good", ["2024_12_19_resnet", "A", "x-1_y", "9" * 120])
def test_specimen_ids(good: str) -> None:
    assert check_specimen_id(good) == good


@pytest.mark.parametrize("bad", ["", "has space", "dot.name", "é", "-lead", "_lead", "9" * 121, "a/b", "..", None])
def test_bad_specimen_ids(bad: Any) -> None:
    with pytest.raises(InvalidNameError, match="specimen id"):
        check_specimen_id(bad)


def test_hierarchy_parsing() -> None:
    assert parse_hierarchy("benchmark > model > variant") == ["benchmark", "model", "variant"]
    assert parse_hierarchy("  a>b  ") == ["a", "b"]
    assert parse_hierarchy("single") == ["single"]


@pytest.mark.parametrize("bad", ["", "   ", ">", "a >", "> b", "a >> b", "a > a", "a/b > c", "a > ..", "a > b\x00",
                                 "1st > x", "a b > c", "модель > x", "a > 🧪", None, 3, ["a", "b"]])
def test_bad_hierarchies(bad: Any) -> None:
    with pytest.raises(InvalidNameError, match="hierarchy"):
        parse_hierarchy(bad)
    if bad is not None:  # None means the default hierarchy
        with pytest.raises((InvalidNameError, ConfigError)):
            VaultConfig.default(bad)


def test_stable_id_is_deterministic_and_separates_parts() -> None:
    assert stable_id("a", "b") == stable_id("a", "b")
    assert stable_id("ab", "") != stable_id("a", "b")
    assert layout.check_id(stable_id("実験", "🧪")) == stable_id("実験", "🧪")


# -- record ids and kinds ----------------------------------------------------------------------

BAD_IDS = ["", "a/b", "..", ".", "a.b", "x" * 65, "é", "a b", "a\x00", "../../etc", None, 7, b"id"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_record_ids(bad: Any) -> None:
    with pytest.raises(ValueError, match="not a valid record id"):
        layout.check_id(bad)
    with pytest.raises(ValueError, match="not a valid record id"):
        layout.record_path("run", bad)


@pytest.mark.parametrize("bad", ["runs", "Run", "", "event", None])
def test_bad_kinds(bad: Any) -> None:
    with pytest.raises(ValueError, match="unknown record kind"):
        layout.check_kind(bad)


# -- the codec ---------------------------------------------------------------------------------

class Opaque:
    pass


@pytest.mark.parametrize(("value", "field"), [
    ({1, 2}, "record.x"),
    (Opaque(), "record.x"),
    (1 + 2j, "record.x"),
    (decimal.Decimal("1.5"), "record.x"),
    (Path("/tmp"), "record.x"),
    ({"deep": [1, {"deeper": frozenset()}]}, "record.x.deep[1].deeper"),
    (np.arange(3), "record.x"),
    (2 ** 64, "record.x"),
    (-(2 ** 63) - 1, "record.x"),
    ("lone \ud800 surrogate", "record.x"),
    ({1: "int key"}, "record.x"),
    ({("a",): "tuple key"}, "record.x"),
    ({None: "none key"}, "record.x"),
])
def test_unsupported_values_name_their_field(value: Any, field: str) -> None:
    with pytest.raises((TypeError, ValueError)) as err:
        codec.encode({"x": value})
    assert field in str(err.value)


@pytest.mark.parametrize("bad", [[1, 2], "text", None, 3, b"bytes", ({"a": 1},)])
def test_a_record_must_be_a_dict(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        codec.encode(bad)


def test_supported_special_values() -> None:
    when = dt.datetime(2024, 12, 19, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    out = codec.decode(codec.encode({
        "when": when, "naive": dt.datetime(2024, 1, 1), "tup": (1, 2), "np_f": np.float32(0.5),
        "np_i": np.int64(3), "np_0d": np.array(7), "nan": math.nan, "inf": -math.inf,
        "big": 2 ** 64 - 1, "small": -(2 ** 63), "raw": b"\x00\xff"}))
    assert out["when"] == "2024-12-19T08:00:00.000000Z"
    assert out["naive"] == "2024-01-01T00:00:00.000000Z"
    assert out["tup"] == [1, 2] and out["np_f"] == 0.5 and out["np_i"] == 3 and out["np_0d"] == 7
    assert math.isnan(out["nan"]) and out["inf"] == -math.inf
    assert out["big"] == 2 ** 64 - 1 and out["small"] == -(2 ** 63) and out["raw"] == b"\x00\xff"
    assert codec.utc_now().endswith("Z")


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01\x02", b"\x81\xa1a", b"\xa3abc", b"\x81\x01\x02"])
def test_corrupt_bytes_raise_corrupt_record_naming_the_path(data: bytes) -> None:
    with pytest.raises(CorruptRecordError, match="runs/ab/cd/X/record.msgpack"):
        codec.decode(data, "runs/ab/cd/X/record.msgpack")


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 64 - 1) | st.floats(allow_nan=True)
    | st.text(max_size=12) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("kind", "schema")), json_like, max_size=5))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_codec_round_trip(record: dict[str, Any]) -> None:
    data = codec.encode(record)
    decoded = codec.decode(data)
    assert codec.encode(decoded) == data  # byte-identical after a round trip, NaN included
    assert codec.encode(dict(reversed(list(record.items())))) == data
    assert decoded.pop("schema", None) == codec.SCHEMA_VERSION  # "schema" is the codec's own field


# -- the record store's public API -------------------------------------------------------------

@pytest.mark.parametrize(("kind", "rid", "record", "error", "message"), [
    ("runs", "R1", {}, ValueError, "unknown record kind"),
    ("run", "a/b", {}, ValueError, "not a valid record id"),
    ("run", "..", {}, ValueError, "not a valid record id"),
    ("run", "", {}, ValueError, "not a valid record id"),
    ("run", None, {}, ValueError, "not a valid record id"),
    ("run", "R1", ["not", "a", "dict"], TypeError, "dict"),
    ("run", "R1", "text", TypeError, "dict"),
    ("run", "R1", [("status", "completed")], TypeError, "must be a dict"),
    ("run", "R1", {"kind": "model"}, ValueError, "stored as run/R1"),
    ("run", "R1", {"id": "R2"}, ValueError, "stored as run/R1"),
    ("run", "R1", {"config": {1: "x"}}, TypeError, "record.config"),
    ("run", "R1", {"config": {"opt": object()}}, TypeError, "record.config.opt"),
    ("run", "R1", {"metrics": {"n": 10 ** 30}}, ValueError, "record.metrics.n"),
])
def test_bad_puts_raise_and_leave_the_vault_unchanged(shared_vault: Path, kind: str, rid: Any, record: Any,
                                                      error: type[Exception], message: str) -> None:
    vault = Vault.open(shared_vault)
    before = tip(shared_vault)
    tx = Transaction(message="bad put")
    tx.put("todo", "GOOD", {"content": "fine"})
    with pytest.raises(error, match=message):
        tx.put(kind, rid, record)
    assert list(tx.writes) == [layout.record_path("todo", "GOOD")]  # nothing half-added
    assert tip(shared_vault) == before


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("run", "R1", "tag", {"tags": {1, 2}}), {}, "record.data.tags"),
    (("run", "R1", "tag", ["good"]), {}, "must be a dict"),
    (("run", "../R1", "tag", {}), {}, "not a valid record id"),
    (("nope", "R1", "tag", {}), {}, "unknown record kind"),
    (("run", "R1", "tag", {}), {"event_id": "a/b"}, "not a valid record id"),
])
def test_bad_events_raise(shared_vault: Path, args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    before = tip(shared_vault)
    tx = Transaction(message="bad event")
    with pytest.raises((TypeError, ValueError), match=message):
        tx.add_event(*args, **kwargs)
    assert tx.writes == {} and tip(shared_vault) == before


def test_a_failing_check_aborts_the_commit(shared_vault: Path) -> None:
    vault = Vault.open(shared_vault)
    before = tip(shared_vault)
    tx = Transaction(message="guarded")
    tx.put("run", "R1", {"status": "completed"})

    def refuse(snap: Any) -> None:
        raise ConfigError("domain 'x' is not in the taxonomy")

    tx.require(refuse)
    with pytest.raises(ConfigError, match="taxonomy"):
        vault.commit(tx)
    assert tip(shared_vault) == before and not vault.snapshot().has("run", "R1")


def test_snapshot_reads_with_bad_input(shared_vault: Path) -> None:
    snap = Vault.open(shared_vault).snapshot()
    with pytest.raises(RecordNotFoundError, match="'R404'"):
        snap.get("run", "R404")
    with pytest.raises(ValueError, match="not a valid record id"):
        snap.get("run", "../x")
    with pytest.raises(ValueError, match="unknown record kind"):
        list(snap.ids("runs"))
    assert snap.events("run", "R404") == [] and not snap.has("model", "M1")


def test_uninitialised_vault_says_init(repo: Path) -> None:
    vault = Vault.open(repo)
    with pytest.raises(VaultNotInitializedError, match="git vault init"):
        vault.config()
    assert list(vault.snapshot().ids("run")) == []


@pytest.mark.parametrize(("text", "message"), [
    ("not = [valid", "not valid TOML"),
    ("format_version = 99", "upgrade gitvault"),
    ("format_version = 'one'", "format_version"),
    ("[store]\nhierarchy = 'a > a'", "repeats a level"),
    ("[store]\nhierarchy = ''", "empty level"),
])
def test_bad_vault_toml(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VaultConfig.from_toml(text)


@pytest.mark.parametrize(("domain", "method", "message"), [
    ("nope", "fine_tuning", "unknown domain"),
    ("training", "probe_training", "not valid for domain"),
    ("training", None, "both"),
    ("a/b", "x", "path separator"),
])
def test_bad_taxonomy_pairs(domain: Any, method: Any, message: str) -> None:
    with pytest.raises((ConfigError, InvalidNameError), match=message):
        VaultConfig.default().check_taxonomy(domain, method)
