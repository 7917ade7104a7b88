"""`git vault init`: create the vault of this repository."""

from __future__ import annotations

import argparse

from gitvault.config import LocalConfig, VaultConfig
from gitvault.vault import Vault


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create the vault (refs/vault/main) of this repository",
                       description="Write vault.toml into refs/vault/main and create .extract/ "
                                   "(kept out of your git). Refuses to overwrite without --force.")
    p.add_argument("--hierarchy", default=None,
                   help='experiment levels, e.g. "benchmark > model > variant" (the default)')
    p.add_argument("--force", action="store_true", help="overwrite an existing vault.toml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    vault = Vault.open(args.directory)
    config = VaultConfig.default(args.hierarchy)
    vault.init(config, force=args.force)
    LocalConfig.load(vault.extract_dir / "config.toml").sync_from(config)
    print(f"initialized vault in {vault.paths.work_tree or vault.paths.common_dir}")
    print(f"  hierarchy: {' > '.join(config.hierarchy)}")
    print(f"  records:   {'refs/vault/main'} (push with `git vault push`)")
    print(f"  local:     {vault.extract_dir} (blobs and caches, ignored by git)")
    return 0
