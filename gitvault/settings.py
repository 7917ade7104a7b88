"""The shared ``vault.toml`` (travels with the vault) and the local ``.extract/config.toml``.

``vault.toml`` holds what every clone must agree on: the hierarchy, the domain x method taxonomy,
metric directions and the format version. ``config.toml`` keeps the Extract seed's sections for
view settings and mirrors ``[store] hierarchy`` and ``[metrics]`` so tools written for the seed
open a gitvault store as it is.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


from gitvault.storage import localdir
from gitvault.errors import ConfigError, InvalidNameError
from gitvault.names import check_name, parse_hierarchy

if TYPE_CHECKING:  # loaded by the functions that read or write TOML: reading the caches needs neither
    import tomlkit

FORMAT_VERSION = 1
DEFAULT_HIERARCHY = "benchmark > model > variant"

DEFAULT_DOMAINS: dict[str, tuple[str, list[str]]] = {
    "interpretability": ("Understanding model internals", ["sae_analysis", "probe_training", "ablation_study"]),
    "training": ("Model training and optimization", ["fine_tuning", "ablation_study"]),
    "benchmarking": ("Evaluation and comparison", ["ablation_study"]),
    "alignment": ("Safety and capability research", ["fine_tuning", "probe_training", "ablation_study"]),
}
DEFAULT_METHODS: dict[str, str] = {
    "sae_analysis": "Sparse autoencoder analysis of model representations",
    "probe_training": "Training linear probes to detect learned features",
    "ablation_study": "Removing components to measure impact",
    "fine_tuning": "Continued training on specific data or tasks",
}
MINIMIZE_HINTS = ("loss", "error", "perplexity", "mse", "mae", "rmse", "nll", "cer", "wer", "fid", "divergence",
                  "latency")
# whole words of a metric name (split at _ / - . and spaces) that say larger is better
MAXIMIZE_WORDS = frozenset((
    "acc", "accuracy", "top1", "top5", "f1", "f1score", "precision", "recall", "auc", "auroc", "auprc", "ap",
    "map", "iou", "miou", "dice", "bleu", "rouge", "rouge1", "rouge2", "rougel", "meteor", "chrf", "psnr", "ssim",
    "r2", "reward", "return", "returns", "score", "win", "winrate", "success", "throughput", "ndcg", "mrr", "hit",
    "hits", "sharpe", "coverage", "fidelity",
))
DIRECTIONS = ("min", "max", "unknown")


@dataclass
class VaultConfig:
    """The parsed ``vault.toml``."""

    hierarchy: list[str]
    domains: dict[str, list[str]] = field(default_factory=dict)
    domain_descriptions: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    minimize: list[str] = field(default_factory=list)
    maximize: list[str] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    @classmethod
    def default(cls, hierarchy: str | None = None) -> "VaultConfig":
        return cls(
            hierarchy=parse_hierarchy(hierarchy if hierarchy is not None else DEFAULT_HIERARCHY),
            domains={d: list(m) for d, (_, m) in DEFAULT_DOMAINS.items()},
            domain_descriptions={d: desc for d, (desc, _) in DEFAULT_DOMAINS.items()},
            methods=dict(DEFAULT_METHODS),
        )

    def to_toml(self) -> str:
        import tomlkit

        doc = tomlkit.document()
        doc.add(tomlkit.comment("gitvault shared configuration; travels with refs/vault/main"))
        doc["format_version"] = self.format_version
        store = tomlkit.table()
        store["hierarchy"] = " > ".join(self.hierarchy)
        doc["store"] = store
        metrics = tomlkit.table()
        metrics["minimize"] = list(self.minimize)
        metrics["maximize"] = list(self.maximize)
        doc["metrics"] = metrics
        taxonomy = tomlkit.table()
        domains = tomlkit.table()
        for name, methods in self.domains.items():
            entry = tomlkit.table()
            entry["description"] = self.domain_descriptions.get(name, "")
            entry["methods"] = list(methods)
            domains[name] = entry
        taxonomy["domains"] = domains
        method_table = tomlkit.table()
        for name, desc in self.methods.items():
            method_table[name] = desc
        taxonomy["methods"] = method_table
        doc["taxonomy"] = taxonomy
        return tomlkit.dumps(doc)

    @classmethod
    def from_toml(cls, text: str, where: str = "vault.toml") -> "VaultConfig":
        import tomllib  # reading needs no round-trip: the standard library's parser (tomlkit writes)

        try:
            doc = tomllib.loads(text)
        except Exception as exc:
            raise ConfigError(f"{where} is not valid TOML: {exc}") from exc
        try:
            return cls._from_mapping(doc, where)
        except (AttributeError, TypeError) as exc:
            raise ConfigError(
                f"{where} has a value of the wrong shape ({exc}); expected [store] hierarchy = \"a > b\", "
                "[metrics] minimize/maximize lists and [taxonomy.domains.<name>] tables with a methods list"
            ) from exc

    @classmethod
    def _from_mapping(cls, doc: dict[str, Any], where: str) -> "VaultConfig":
        version = doc.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(
                f"{where} has format_version {version!r}; this gitvault reads up to "
                f"{FORMAT_VERSION}: upgrade gitvault"
            )
        try:
            hierarchy = parse_hierarchy(doc.get("store", {}).get("hierarchy", DEFAULT_HIERARCHY))
        except InvalidNameError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        taxonomy = doc.get("taxonomy", {})
        domains_raw = taxonomy.get("domains", {})
        metrics = doc.get("metrics", {})
        return cls(
            hierarchy=hierarchy,
            domains={k: list(v.get("methods", [])) for k, v in domains_raw.items()},
            domain_descriptions={k: str(v.get("description", "")) for k, v in domains_raw.items()},
            methods={k: str(v) for k, v in taxonomy.get("methods", {}).items()},
            minimize=[str(m) for m in metrics.get("minimize", [])],
            maximize=[str(m) for m in metrics.get("maximize", [])],
            format_version=version,
        )

    def check_taxonomy(self, domain: str | None, method: str | None) -> None:
        """Raise `ConfigError` unless (domain, method) is a valid pair of the taxonomy."""
        if domain is None and method is None:
            return
        if domain is None or method is None:
            raise ConfigError("give both a domain and a method, or neither")
        check_name(domain, "domain")
        check_name(method, "method")
        if domain not in self.domains:
            raise ConfigError(
                f"unknown domain {domain!r}; valid domains: {', '.join(sorted(self.domains))} "
                "(add one under [taxonomy.domains] in vault.toml)"
            )
        if method not in self.domains[domain]:
            raise ConfigError(
                f"method {method!r} is not valid for domain {domain!r}; valid methods: "
                f"{', '.join(self.domains[domain])}"
            )

    def direction(self, metric: str, local: "LocalConfig | None" = None, *, unknown: str = "max") -> str:
        """``"min"`` or ``"max"``: the configured lists first (vault.toml, then ``local``), then
        the name (``val_loss``, ``latency_ms``: min; ``val/acc``, ``reward``: max); a name that
        says neither gets ``unknown`` ("max" by default, the seed's rule; the front-ends that mark
        a "best" value pass ``unknown="unknown"`` and mark none)."""
        minimize = list(self.minimize) + (local.minimize if local else [])
        maximize = list(self.maximize) + (local.maximize if local else [])
        if metric in minimize:
            return "min"
        if metric in maximize:
            return "max"
        return direction_by_name(metric) or unknown


def direction_by_name(metric: str) -> str | None:
    """``"min"`` when the name holds a word that means lower is better, ``"max"`` when one of its
    words means higher is better, else None (``lr_used``, ``epochs``, ``batch_size``)."""
    lowered = metric.lower()
    if any(hint in lowered for hint in MINIMIZE_HINTS):
        return "min"
    words = [w for w in re.split(r"[^a-z0-9]+", lowered) if w]
    if any(w in MAXIMIZE_WORDS for w in words):
        return "max"
    return None


_LOCAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "summary": {"sections": ["runs", "metrics", "tables", "curves"], "curve_width": 80, "curve_smooth": False},
    "info": {"fields": []},
    "compare": {"sections": ["pivot", "config", "tables", "curves"], "curve_width": 50},
    "theme": {
        "fg": "#cdd6f4", "bg": "#1e1e2e", "accent": "#89b4fa", "accent_dim": "#585b70",
        "success": "#a6e3a1", "warning": "#f9e2af", "error": "#f38ba8",
        "border": "#585b70", "border_focused": "#89b4fa",
    },
    "notifications": {"timeout": 3},
}


def _plain(value: Any) -> Any:
    """A tomlkit item as a plain Python value (None stays None)."""
    return value.unwrap() if hasattr(value, "unwrap") else value


class LocalConfig:
    """``.extract/config.toml``: the seed's view settings, edited with comments kept. Read with the
    standard library's parser; tomlkit (a round-trip parser, 12 ms to load) only to write it."""

    def __init__(self, path: Path, text: str = "") -> None:
        import tomllib

        self.path = path
        self.text = text
        try:
            self.values = tomllib.loads(text)
        except Exception as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}; fix or delete it") from exc
        self._doc: tomlkit.TOMLDocument | None = None

    @classmethod
    def load(cls, path: Path) -> "LocalConfig":
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        return cls(path, text)

    @property
    def doc(self) -> tomlkit.TOMLDocument:
        """The file as tomlkit keeps it (comments, order), for edits."""
        if self._doc is None:
            import tomlkit

            self._doc = tomlkit.parse(self.text)
        return self._doc

    def sync_from(self, shared: VaultConfig) -> bool:
        """Mirror the shared settings (for the seed's tools) and fill missing seed sections; True
        when the file changed. Only keys that are absent, or still hold what gitvault last wrote
        (recorded in the folder's marker), are written: a value the user or another program set is
        never changed, and a folder that is not gitvault's is never written at all."""
        import tomlkit

        folder = self.path.parent
        if localdir.is_ours(folder) is False:
            return False
        before = tomlkit.dumps(self.doc)
        last = localdir.read_marker(folder).get("mirrored") or {}
        minimize, maximize = sorted(set(shared.minimize)), sorted(set(shared.maximize))
        wanted: dict[str, Any] = {"store.hierarchy": " > ".join(shared.hierarchy),
                                  "metrics.minimize": minimize, "metrics.maximize": maximize}
        mirrored: dict[str, Any] = {}
        for dotted, value in wanted.items():
            section, key = dotted.split(".")
            table = self.doc.setdefault(section, tomlkit.table())
            current = _plain(table.get(key))
            if current is None or current == last.get(dotted):  # else: set by someone else, theirs
                table[key] = value
                mirrored[dotted] = value
        for section, values in _LOCAL_DEFAULTS.items():
            table = self.doc.setdefault(section, tomlkit.table())
            for key, value in values.items():
                table.setdefault(key, value)
        after = tomlkit.dumps(self.doc)
        changed = after != before or not self.path.exists()
        tmp = self.path.with_suffix(".toml.tmp")
        try:
            if changed:
                localdir.claim(folder)
                tmp.write_text(after, encoding="utf-8")
                tmp.replace(self.path)
            if mirrored != last:
                localdir.claim(folder)
                localdir.write_marker(folder, mirrored)
        except OSError:  # a read-only or full disk: a mirror of the shared settings, the next sync writes it
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return False
        return changed

    def section(self, name: str) -> dict[str, Any]:
        value = (self._doc if self._doc is not None else self.values).get(name, {})
        return value.unwrap() if hasattr(value, "unwrap") else dict(value)

    @property
    def minimize(self) -> list[str]:
        return [str(m) for m in self.section("metrics").get("minimize", [])]

    @property
    def maximize(self) -> list[str]:
        return [str(m) for m in self.section("metrics").get("maximize", [])]


# -- editing vault.toml (`git vault config`) ---------------------------------------------------------

CONFIG_KEYS_HELP = ("store.hierarchy, metrics.minimize, metrics.maximize, taxonomy.domains.NAME.methods, "
                    "taxonomy.domains.NAME.description, taxonomy.methods.NAME")
_LIST_KEYS = ("metrics.minimize", "metrics.maximize")


def config_key(key: str) -> tuple[str, tuple[str, ...]]:
    """``(kind, path)`` of a `git vault config` key: kind is ``list`` or ``text``; a one-line
    `ConfigError` for a key vault.toml does not have."""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"give a key: {CONFIG_KEYS_HELP}")
    parts = tuple(key.split("."))
    if key in _LIST_KEYS:
        return "list", parts
    if key == "store.hierarchy":
        return "text", parts
    if len(parts) == 4 and parts[:2] == ("taxonomy", "domains") and parts[3] in ("methods", "description"):
        check_name(parts[2], "domain")
        return ("list" if parts[3] == "methods" else "text"), parts
    if len(parts) == 3 and parts[:2] == ("taxonomy", "methods"):
        check_name(parts[2], "method")
        return "text", parts
    raise ConfigError(f"unknown key {key!r}; use {CONFIG_KEYS_HELP}")


def config_entries(text: str) -> list[tuple[str, Any]]:
    """Every key `git vault config` edits, with its value in ``text`` (a vault.toml)."""
    cfg = VaultConfig.from_toml(text)
    out: list[tuple[str, Any]] = [("store.hierarchy", " > ".join(cfg.hierarchy)),
                                  ("metrics.minimize", list(cfg.minimize)), ("metrics.maximize", list(cfg.maximize))]
    for name, methods in cfg.domains.items():
        out.append((f"taxonomy.domains.{name}.description", cfg.domain_descriptions.get(name, "")))
        out.append((f"taxonomy.domains.{name}.methods", list(methods)))
    out += [(f"taxonomy.methods.{name}", desc) for name, desc in cfg.methods.items()]
    return out


def config_value(text: str, key: str) -> Any:
    """The value of ``key`` in ``text`` (a vault.toml), or None when it is not set."""
    kind, _ = config_key(key)
    return dict(config_entries(text)).get(key)


def edit_config_text(text: str, action: str, key: str, values: list[str]) -> str:
    """``text`` (a vault.toml) with ``key`` changed by ``action``: ``set`` (a text value, or a
    list's whole content), ``add`` / ``remove`` (items of a list), ``unset``. Comments and order
    are kept (tomlkit). Every bad input is a one-line `ConfigError` saying how to fix it."""
    import tomlkit

    kind, parts = config_key(key)
    if action not in ("set", "add", "remove", "unset"):
        raise ConfigError(f"unknown action {action!r}; use set, add, remove or unset")
    if action in ("add", "remove") and kind != "list":
        raise ConfigError(f"{key} holds one text value, not a list; use `git vault config set {key} VALUE`")
    if action in ("set", "add", "remove") and not values:
        raise ConfigError(f"give a value: git vault config {action} {key} VALUE")
    if kind == "text" and action == "set" and len(values) != 1:
        raise ConfigError(f"{key} takes one value; quote it if it has spaces: "
                          f"git vault config set {key} \"{' '.join(values)}\"")
    if key == "store.hierarchy" and action == "unset":
        raise ConfigError("store.hierarchy cannot be unset; set it: git vault config set store.hierarchy \"a > b\"")
    if kind == "list":
        what = "method" if parts[0] == "taxonomy" else "metric"
        for value in values:
            check_name(value, what, allow_slash=what == "metric")
    elif key == "store.hierarchy" and action == "set":
        try:
            parse_hierarchy(values[0])
        except InvalidNameError as exc:
            raise ConfigError(f"store.hierarchy: {exc}") from exc

    doc = tomlkit.parse(text)
    table: Any = doc
    for part in parts[:-1]:
        if part not in table:
            if action in ("remove", "unset"):
                raise ConfigError(f"{key} is not set; `git vault config list` shows what is")
            table[part] = tomlkit.table()
        table = table[part]
        if not isinstance(table, dict):
            raise ConfigError(f"{'.'.join(parts[:-1])} in vault.toml is not a table; fix it by hand")
    last = parts[-1]
    current = _plain(table.get(last))
    if action == "unset":
        if current is None:
            raise ConfigError(f"{key} is not set; `git vault config list` shows what is")
        del table[last]
    elif kind == "text":
        table[last] = values[0]
    else:
        items = [str(v) for v in current] if isinstance(current, list) else []
        if action == "set":
            items = list(dict.fromkeys(values))
        elif action == "add":
            items += [v for v in values if v not in items]
        else:
            missing = [v for v in values if v not in items]
            if missing:
                raise ConfigError(f"{key} does not hold {', '.join(map(repr, missing))}; it holds "
                                  f"{', '.join(map(repr, items)) or 'nothing'}")
            items = [v for v in items if v not in values]
        table[last] = items
    new = tomlkit.dumps(doc)
    cfg = VaultConfig.from_toml(new)
    both = sorted(set(cfg.minimize) & set(cfg.maximize))
    if both:
        other = "metrics.maximize" if key == "metrics.minimize" else "metrics.minimize"
        raise ConfigError(f"{', '.join(both)} would be in both metrics.minimize and metrics.maximize; remove it "
                          f"first: git vault config remove {other} {both[0]}")
    return new
