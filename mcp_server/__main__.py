"""`python -m gitvault.mcp_server [--store PATH]`: the read-only MCP server on stdio."""

from gitvault.mcp_server.server import main

raise SystemExit(main())
