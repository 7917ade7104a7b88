"""The full-screen terminal UI (prompt_toolkit). Not built yet: no issue has asked for it so far;
it will be a thin view over `gitvault.query`, like the CLI and the MCP server."""
