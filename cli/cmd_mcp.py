"""`git vault mcp [--store PATH]`: serve the vault to LLM agents over MCP (stdio, read-only)."""

from __future__ import annotations

import argparse


EXTRA = "mcp"  # the MCP SDK

def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mcp", help="read-only MCP server for LLM agents (stdio)",
                       description="Serve this repository's vault to an MCP host (Claude Code, Claude "
                                   "Desktop, ...) over stdio. Read-only. Spawned by the host, not run by hand.")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="the repository (any path inside it) or its .extract folder; default: the current "
                        "directory (or -C)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.mcp_server import serve  # the server's one entry point; loads the mcp SDK

    return serve(args.store or args.directory)
