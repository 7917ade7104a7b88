"""Importers: whole stores of other trackers brought into the vault (`git vault import-from KIND PATH`).

One module per kind reads its source's files directly (no import of the tracker itself) into an
`Import` (`gitvault.importers.plan`: records built as the SDK builds them, one write at the end,
the report); see docs/importing.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitvault.importers.plan import ProgressFn, Report
    from gitvault.storage.vault import Vault

KINDS = {"extract": "an Extract store (.extract/)", "mlflow": "MLflow's mlruns/ file store or mlflow.db",
         "csv": "Lightning CSVLogger folders, or CSV files with --step-column",
         "specimens": "a Specimen Vault repository (specimens/<id>/)",
         "tensorboard": "a folder of TensorBoard event files (needs: pip install tensorboard)",
         "wandb": "W&B run folders (wandb/run-*, wandb/offline-run-*; needs: pip install wandb)"}
"""The kinds `import_from` reads, in the order they were built, with what PATH is."""
OPTIONS = {"extract": (), "mlflow": ("experiment",), "csv": ("experiment", "step_column"), "specimens": (),
           "tensorboard": ("experiment",), "wandb": ("experiment",)}
"""The options each kind takes."""


def import_from(vault: Vault, kind: str, path: Path | str, *, dry_run: bool = False,
                progress: ProgressFn | None = None, **options: Any) -> Report:
    """Import the store of ``kind`` at ``path`` into ``vault``; the report of what was added and
    what could not be carried over. ``options``: what the kind takes (csv: ``step_column``,
    ``experiment``; mlflow: ``experiment``, a path the experiments go under)."""
    from gitvault.errors import VaultError
    from gitvault.importers.plan import Import

    if kind not in KINDS:
        raise VaultError(f"unknown kind {kind!r}; git vault import-from reads: {', '.join(KINDS)}")
    for option in options:
        if option not in OPTIONS[kind]:
            flag = "--" + option.replace("_", "-")
            takes = ", ".join("--" + o.replace("_", "-") for o in OPTIONS[kind]) or "no options"
            raise VaultError(f"{flag} does not apply to {kind} (it takes {takes}); leave it out")
    source = Path(path).expanduser()
    if not source.exists():
        raise VaultError(f"{source} does not exist; give the path of {KINDS[kind]}")
    imp = Import(vault, kind, source.resolve(), dry_run=dry_run, progress=progress)
    importlib.import_module(f"gitvault.importers.{kind}").import_store(imp, source.resolve(), **options)
    return imp.finish()
