"""`GitVaultLogger` for the ``pytorch_lightning`` package (``import pytorch_lightning as pl``),
whose ``Logger`` is not the one of ``lightning.pytorch``: a Trainer takes loggers of its own
namespace. The same logger as `gitvault.integrations.lightning.GitVaultLogger` (one implementation,
`gitvault.integrations.lightning.GitVaultLoggerBase`)."""

from __future__ import annotations

from gitvault.integrations.lightning import logger_class

GitVaultLogger = logger_class("pytorch_lightning", __name__)
