"""gitvault: experiment tracking that lives inside your git repository.

``gitvault.Store`` is the SDK (docs/sdk.md); ``gitvault.init``, ``log``, ``config``, ``summary``,
``finish`` and ``run`` are the W&B-shaped API, so ``import gitvault as wandb`` runs a W&B script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitvault.errors import *  # noqa: F403 - the exception hierarchy is public API
from gitvault import errors as _errors

if TYPE_CHECKING:
    from gitvault.storage.blobs import BlobStore
    from gitvault.settings import LocalConfig, VaultConfig
    from gitvault.runs.experiment import Experiment
    from gitvault.runs.run import Run
    from gitvault.runs.store import Store
    from gitvault.storage.vault import Snapshot, Transaction, Vault

__version__ = "0.1.0"

__all__ = [
    "BlobStore",
    "Experiment",
    "Run",
    "Store",
    "LocalConfig",
    "Snapshot",
    "Transaction",
    "Vault",
    "VaultConfig",
    "__version__",
] + [name for name, value in vars(_errors).items() if isinstance(value, type) and issubclass(value, Exception)]


# imported on first use, so `import gitvault` (and every `git vault` command) loads only the
# errors; pygit2, numpy and pyarrow come with the first thing that needs them
_SDK = {"Store": "gitvault.runs.store", "Experiment": "gitvault.runs.experiment", "Run": "gitvault.runs.run",
        "BlobStore": "gitvault.storage.blobs", "LocalConfig": "gitvault.settings", "VaultConfig": "gitvault.settings",
        "Snapshot": "gitvault.storage.vault", "Transaction": "gitvault.storage.vault", "Vault": "gitvault.storage.vault"}


def __getattr__(name: str):  # noqa: ANN202 - lazy: `import gitvault` stays light for the CLI
    """The SDK's classes, and the W&B-shaped API (`gitvault.integrations.wandb`: ``init``, ``log``,
    ``config``, ``summary``, ``finish``, ``run``...) so that ``import gitvault as wandb`` works; any
    other W&B name raises `UnsupportedCallError` saying what to use instead."""
    import importlib
    import importlib.util

    if name in _SDK:
        return getattr(importlib.import_module(_SDK[name]), name)
    if name.startswith("_") or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # a submodule not imported yet (`from gitvault import settings` asks here first): the
        # import system imports it when this says no
        raise AttributeError(f"module 'gitvault' has no attribute {name!r}")
    wandb = importlib.import_module("gitvault.integrations.wandb")
    if name == "run":
        return wandb.active_run()
    if name in wandb.API:
        value = globals()[name] = getattr(wandb, name)  # kept: the next `wandb.log` is a plain lookup
        return value
    raise wandb.unsupported(name)
