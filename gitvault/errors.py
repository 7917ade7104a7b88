"""The one exception hierarchy of gitvault.

Every error a user can cause is a ``VaultError`` (or the standard ``TypeError``/``ValueError``
where the Extract seed's API names them) whose message names what is wrong and how to fix it.
"""

from __future__ import annotations


class VaultError(Exception):
    """Base of every gitvault error."""


class NotARepositoryError(VaultError):
    """The path is not inside a git repository."""


class VaultNotInitializedError(VaultError):
    """The repository has no `refs/vault/main` yet."""


class VaultExistsError(VaultError):
    """`init` would overwrite an existing vault configuration."""


class InvalidNameError(VaultError, ValueError):
    """A name (experiment, artifact, model, tag...) cannot be stored safely."""


class ConfigError(VaultError, ValueError):
    """vault.toml or config.toml holds something gitvault cannot use."""


class RecordNotFoundError(VaultError, KeyError):
    """No record with that id exists."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AmbiguousIdError(VaultError, ValueError):
    """An id prefix matches more than one record."""


class RecordExistsError(VaultError):
    """A sealed record would be rewritten with different content."""


class CorruptRecordError(VaultError):
    """A record in the vault tree cannot be decoded."""


class InvalidRecordError(CorruptRecordError):
    """A record decodes but does not have the shape of its kind (it is quarantined)."""


class BlobError(VaultError):
    """A blob is missing, truncated or does not match its sha256."""


class LockTimeoutError(VaultError):
    """Another process held the vault lock for too long."""


class ConcurrentWriterError(VaultError):
    """Two processes tried to write the same live run."""


class QueryError(VaultError, ValueError):
    """A query (SQL, filter, id) is malformed."""


class SyncError(VaultError):
    """A push, pull, export or import could not be completed."""


class ForeignStoreError(VaultError):
    """A file or folder gitvault would write belongs to another program (an Extract store)."""


class SecretsFoundError(SyncError):
    """A push would send suspected credentials; nothing was sent."""


class MissingExtraError(VaultError, ImportError):
    """A part of gitvault whose optional dependencies are not installed (``extra`` names them)."""

    def __init__(self, text: str, extra: str) -> None:
        super().__init__(text)
        self.extra = extra


class SecretRedactedWarning(UserWarning):
    """A suspected credential in a run's config, params, command line or environment facts was
    replaced by a marker before anything was stored."""


class LocksUnavailableWarning(UserWarning):
    """The file system has no ``flock`` (Lustre without ``-o flock``, NFS without lockd); gitvault
    goes on without it."""


class ContinuedRunWarning(UserWarning):
    """A run was sealed by another process while its writer still ran; the writer's points went
    into a new run that continues it."""


class UnsupportedCallError(VaultError, AttributeError):
    """A W&B-shaped name or option (``import gitvault as wandb``) that gitvault has no equivalent
    for; the message names what to use instead."""


class NoActiveRunError(VaultError, RuntimeError):
    """A W&B-shaped call (``gitvault.log``, ``gitvault.config``) made before ``gitvault.init()``."""
