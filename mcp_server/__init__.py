"""Read-only MCP server over a gitvault vault (stdio). Start it with `git vault mcp` or
`python -m gitvault.mcp_server`.

The one entry point other code calls is `serve(root)`; it loads the server (and the ``mcp`` SDK)
only when called, so importing this package costs nothing. Inside the package, `server` builds
the tools (`build_server(VaultReader(root))`) and `reader` holds the query layer's worker.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["serve"]


def serve(root: str | Path | None = None) -> int:
    """Serve the vault of the repository at ``root`` (any path inside it, or its ``.extract``
    folder; None: the current directory) on stdin/stdout until the client disconnects."""
    from gitvault.mcp_server.server import serve as run

    return run(root)
