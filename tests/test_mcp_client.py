"""A synchronous handle on a real MCP server subprocess, driven by the `mcp` SDK's own stdio client
(`stdio_client` + `ClientSession`) on a background event loop, so one server session can serve a
whole test module. Also the hashing helper that proves a session wrote nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


class McpClient:
    """``with McpClient(cwd, args) as client: client.call("list_runs", limit=5)``."""

    def __init__(self, cwd: Path, args: list[str] | None = None, command: str = sys.executable) -> None:
        self.params = StdioServerParameters(
            command=command, args=args if args is not None else ["-m", "gitvault.mcp_server"], cwd=str(cwd),
            env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
        )
        self.stderr_path = Path(cwd).parent / f"mcp-stderr-{id(self)}.log"
        self._loop = asyncio.new_event_loop()
        self._ready: Future[ClientSession] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._main: Any = None

    def __enter__(self) -> "McpClient":
        self._thread.start()
        self._main = asyncio.run_coroutine_threadsafe(self._session(), self._loop)
        self.session = self._ready.result(timeout=60)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        try:
            self._main.result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _session(self) -> None:
        self._stop = asyncio.Event()
        try:
            with self.stderr_path.open("w") as errlog:
                async with stdio_client(self.params, errlog=errlog) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        self._ready.set_result(session)
                        await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def list_tools(self) -> dict[str, Any]:
        return {t.name: t for t in self.run(self.session.list_tools()).tools}

    def raw(self, name: str, **arguments: Any) -> Any:
        return self.run(self.session.call_tool(name, arguments))

    def call(self, name: str, **arguments: Any) -> Any:
        """The tool's result parsed from its text content with a STRICT JSON parser (bare NaN or
        Infinity would fail here)."""
        result = self.raw(name, **arguments)
        text = result.content[0].text
        assert not result.is_error, f"{name}({arguments}) failed: {text}"
        parsed = json.loads(text, parse_constant=_reject_constant)
        assert parsed == json.loads(json.dumps(result.structured_content), parse_constant=_reject_constant)
        return parsed

    def error(self, name: str, **arguments: Any) -> str:
        result = self.raw(name, **arguments)
        assert result.is_error, f"{name}({arguments}) did not fail: {result.content[0].text[:300]}"
        return result.content[0].text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} in a tool result")


def tree_hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (paths relative to each root's parent)."""
    out: dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(root.parent))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
