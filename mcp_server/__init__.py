"""Read-only MCP server over a gitvault vault (stdio). Start it with `git vault mcp` or
`python -m gitvault.mcp_server`; `build_server(VaultReader(store))` gives the server object."""

from gitvault.mcp_server.reader import VaultReader
from gitvault.mcp_server.server import build_server, main, serve

__all__ = ["VaultReader", "build_server", "main", "serve"]
