"""`git vault init`: create the vault of this repository."""

from __future__ import annotations

import argparse

from pathlib import Path

from typing import TYPE_CHECKING

from gitvault.errors import VaultError

if TYPE_CHECKING:
    from gitvault.storage.vault import Vault


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="create the vault (refs/vault/main) of this repository",
                       description="Write vault.toml into refs/vault/main and create .extract/ "
                                   "(kept out of your git). Refuses to overwrite without --force.")
    p.add_argument("--hierarchy", default=None,
                   help='experiment levels, e.g. "benchmark > model > variant" (the default)')
    p.add_argument("--force", action="store_true", help="overwrite an existing vault.toml")
    p.add_argument("--adopt-extract", action="store_true",
                   help="move an Extract store found in .extract/ aside whole (one rename, into "
                        ".extract-from-extract-<UTC time>/), initialise with its hierarchy and import it "
                        "(git vault import-from extract)")
    p.add_argument("--hooks", dest="hooks", action="store_true", default=None,
                   help="install the git hooks that link runs to commits (asked when run in a terminal)")
    p.add_argument("--no-hooks", dest="hooks", action="store_false", help="do not install the git hooks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.storage import localdir
    from gitvault.settings import LocalConfig, VaultConfig
    from gitvault.storage.vault import Vault

    vault = Vault.open(args.directory)
    hierarchy = args.hierarchy
    if args.adopt_extract and hierarchy is None and localdir.is_ours(vault.extract_dir) is False:
        from gitvault.importers.extract import hierarchy_of

        levels = hierarchy_of(vault.extract_dir)  # read in place (nothing written), checked before the move
        hierarchy = " > ".join(levels) if levels else None
    config = VaultConfig.default(hierarchy)
    adopted = _adopt(vault) if args.adopt_extract else None
    if localdir.is_ours(vault.extract_dir) is False:
        raise localdir.foreign_error(localdir.inspect(vault.extract_dir))
    vault.init(config, force=args.force)
    LocalConfig.load(vault.extract_dir / "config.toml").sync_from(config)
    print(f"initialized vault in {vault.paths.work_tree or vault.paths.common_dir}")
    print(f"  hierarchy: {' > '.join(config.hierarchy)}")
    print(f"  records:   {'refs/vault/main'} (push with `git vault push`)")
    print(f"  blobs:     {vault.paths.objects_dir} (inside your git dir)")
    print(f"  caches:    {vault.extract_dir} (rebuildable, ignored by git)")
    if adopted is not None:
        print(f"  adopted:   the Extract store is whole in {adopted} (nothing copied or deleted; "
              "ignored by git; Extract itself still reads it there)")
        from gitvault.cli.cmd_import import import_and_report

        try:
            import_and_report(vault, "extract", adopted)
        except (VaultError, ValueError, TypeError) as exc:
            raise VaultError(f"the vault is initialised and the Extract store is in {adopted}, but importing it "
                             f"stopped: {exc}; once that is fixed, run `git vault import-from extract {adopted}` "
                             "(it adds what is missing)") from None
    _offer_hooks(args)
    return 0


def _adopt(vault: Vault) -> Path | None:
    """Move a foreign store out of ``.extract/`` by one rename, and keep the new folder out of git."""
    from gitvault.storage import localdir
    from gitvault.storage.repo import append_exclude

    if localdir.is_ours(vault.extract_dir) is not False:
        raise VaultError(f"--adopt-extract: {vault.extract_dir} holds no store of another program to adopt "
                         "(it is gitvault's own or absent); run `git vault init` without --adopt-extract")
    target = localdir.adopt(vault.extract_dir)
    append_exclude(vault.paths, f"/{localdir.ADOPTED_PREFIX}*/", "gitvault: Extract stores moved aside by --adopt-extract")
    return target


def _offer_hooks(args: argparse.Namespace) -> None:
    """--hooks/--no-hooks decide; otherwise ask only on a terminal (default no)."""
    import sys

    from gitvault.gitlink import hookinstall

    install = args.hooks
    if install is None and sys.stdin.isatty():
        answer = input("install git hooks that link runs to your commits? (git vault hooks install) [y/N] ")
        install = answer.strip().lower() in ("y", "yes")
    if not install:
        _, states = hookinstall.status(args.directory)
        if all(st.action.startswith("installed") for st in states if st.name in hookinstall.BASE_HOOKS):
            print("  hooks:     already installed (`git vault hooks status`)")
            return
        print("  hooks:     not installed (`git vault hooks install` links runs to commits as you commit)")
        return
    from gitvault.cli.cmd_hooks import state_line

    for state in hookinstall.install(args.directory):
        print(f"  hook:      {state_line(state)}")
