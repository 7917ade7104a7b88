"""The optional parts of gitvault and what each needs (``pip install "git-vault[EXTRA]"``).

The base package holds what a training job needs: logging, sealing, recovery, push and pull, the
git hooks. Reading runs back through the caches, tensors, the TUI, the MCP server and S3 blobs are
extras, so a training image does not carry DuckDB, polars or a web stack. Code that needs an extra
calls `require` (or the CLI maps the `ModuleNotFoundError` with `extra_of`): one line naming the
extra to install, never an ImportError traceback.
"""

from __future__ import annotations

import functools
import importlib.util

from gitvault.errors import MissingExtraError

EXTRAS: dict[str, tuple[str, ...]] = {
    "query": ("duckdb", "polars"),
    "tensors": ("zarr",),
    "tui": ("prompt_toolkit",),
    "mcp": ("mcp",),
    "s3": ("obstore",),
    "pandas": ("pandas",),  # .to_pandas() on Store.runs_frame(); brings [query] too
    "images": ("PIL",),  # run.log_image (PNG encoding), the TUI's thumbnails: Pillow
    "report": ("altair", "vl_convert", "markdown_it"),
    "tensorboard": ("tensorboard",),  # git vault import-from tensorboard: its own event-file reader  # git vault report: Vega-Lite charts, PNGs, notes; brings [query]
    "wandb": ("wandb",),  # git vault import-from wandb: the record classes of W&B's run logs (no network)
}
"""extra -> the top-level modules it installs (as imported)."""


def extra_of(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name is looked up by its top package)."""
    top = (module or "").partition(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def installed(extra: str) -> bool:
    """True when every module of ``extra`` can be imported (looked up, not imported)."""
    return all(_installed(m) for m in EXTRAS[extra])


available = functools.lru_cache(maxsize=None)(installed)
"""`installed`, looked up once per process (`git vault -h` asks for each command module)."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None: an import of it fails, as when it is absent
        return False


def message(what: str, extra: str) -> str:
    return f'{what} needs the {extra} extra: pip install "git-vault[{extra}]"'


def require(extra: str, what: str) -> None:
    """Raise `MissingExtraError` naming ``extra`` when one of its modules is not installed."""
    if not installed(extra):
        raise MissingExtraError(message(what, extra), extra)
