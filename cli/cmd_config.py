"""`git vault config`: read and edit the shared settings in ``vault.toml`` (metric directions,
taxonomy, hierarchy); each change is one vault commit, checked before it is made."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from gitvault.cli.output import print_json

ACTIONS_HELP = """\
keys:
  metrics.minimize, metrics.maximize     metric names whose smaller / larger value is better
                                         (compare, diff and log mark a best value only for metrics
                                         configured here or recognised by name: loss, acc, ...)
  store.hierarchy                        the experiment levels, e.g. "benchmark > model > variant"
  taxonomy.domains.NAME.methods          the methods valid for domain NAME (git vault new --domain)
  taxonomy.domains.NAME.description      its description
  taxonomy.methods.NAME                  a method's description

examples:
  git vault config list
  git vault config get metrics.minimize
  git vault config add metrics.minimize latency_ms val/loss
  git vault config remove metrics.maximize lr_used
  git vault config set taxonomy.methods.distillation "Training a small model on a large one's outputs"
  git vault config add taxonomy.domains.training.methods distillation
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="get, set, add to, remove from or list the shared settings (vault.toml)",
                       description="The shared settings in vault.toml (they travel with the vault on push and "
                                   "pull). Each change is one vault commit.",
                       epilog=ACTIONS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("list", "get", "set", "add", "remove", "unset"), metavar="ACTION",
                   help="list, get KEY, set KEY VALUE..., add KEY VALUE..., remove KEY VALUE..., unset KEY")
    p.add_argument("key", nargs="?", default=None, help="a key (below)")
    p.add_argument("values", nargs="*", metavar="VALUE", help="the value (text), or list items")
    p.add_argument("--json", action="store_true", help="print the value(s) as JSON")
    p.set_defaults(func=run)


def shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return f'"{value}"'


def check_levels(vault: Any, current: str, wanted: str) -> None:
    """A vault with experiments keeps its number of hierarchy levels: their records name that many
    levels (a new hierarchy may rename them, not add or drop one)."""
    from gitvault.settings import VaultConfig
    from gitvault.errors import ConfigError
    from gitvault.names import parse_hierarchy

    try:
        new = parse_hierarchy(wanted)
    except ValueError:
        return  # edit_config_text words the error
    old = VaultConfig.from_toml(current).hierarchy
    if len(new) != len(old) and next(iter(vault.snapshot().ids("experiment")), None) is not None:
        raise ConfigError(f"this vault has experiments made with {len(old)} hierarchy levels ({' > '.join(old)}); "
                          f"a new hierarchy may rename them but must keep {len(old)} levels")


def run(args: argparse.Namespace) -> int:
    from gitvault import settings
    from gitvault.errors import ConfigError
    from gitvault.storage.vault import Vault

    vault = Vault(args.repo) if getattr(args, "repo", None) else Vault.open(args.directory)
    vault.config()  # a clear error when there is no vault yet
    text = vault.snapshot().blob_at(("vault.toml",))
    current = text.data.decode("utf-8") if text is not None else ""
    if args.action == "list":
        if args.key is not None:
            raise ConfigError(f"list takes no key; use `git vault config get {args.key}`")
        entries = settings.config_entries(current)
        if args.json:
            print_json(dict(entries))
        else:
            for key, value in entries:
                print(f"{key} = {shown(value)}")
        return 0
    if args.key is None:
        raise ConfigError(f"{args.action} needs a key: {settings.CONFIG_KEYS_HELP}")
    if args.action == "get":
        if args.values:
            raise ConfigError(f"get takes one key; to change it use `git vault config set {args.key} ...`")
        value = settings.config_value(current, args.key)
        if value is None:
            print_json(None) if args.json else None
            return 1  # as `git config --get`: not set
        if args.json:
            print_json(value)
        elif isinstance(value, list):
            for item in value:
                print(item)
        else:
            print(value)
        return 0
    if args.action == "unset" and args.values:
        raise ConfigError(f"unset takes no value; to drop items use `git vault config remove {args.key} VALUE`")
    if args.key == "store.hierarchy" and args.action == "set":
        check_levels(vault, current, args.values[0] if args.values else "")
    words = shlex.join([args.action, args.key, *args.values])
    settings.edit_config_text(current, args.action, args.key, list(args.values))  # check before taking the lock
    tip = vault.edit_config(lambda text: settings.edit_config_text(text, args.action, args.key, list(args.values)),
                            f"config: {words}")
    after = vault.snapshot().blob_at(("vault.toml",))
    value = settings.config_value(after.data.decode("utf-8") if after is not None else "", args.key)
    if args.json:
        print_json({"key": args.key, "value": value, "commit": str(tip) if tip else None})
    elif tip is None:
        print(f"{args.key} = {shown(value)} (unchanged; nothing committed)" if value is not None
              else f"{args.key} is not set (unchanged)")
    else:
        print(f"{args.key} = {shown(value)}" if value is not None else f"{args.key} unset")
        print(f"  vault commit {str(tip)[:12]}: config: {words}")
    return 0
