"""The MCP server's `list_files` (issue 26): names, kinds, steps and sizes of a run's files and images,
never their bytes nor where their blobs are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gitvault import Store
from tests.conftest import make_repo, vault_run
from tests.test_mcp_client import McpClient

pytest.importorskip("PIL", reason="images need Pillow (the images extra)")
pytest.importorskip("mcp", reason="the MCP server needs the mcp extra")


def test_list_files_gives_names_kinds_and_sizes_and_no_content(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", "init")
    payload = b"\x00\x01binary\xff" * 100
    (repo / "weights.bin").write_bytes(payload)
    with Store(repo) as store:
        with store.experiment({"benchmark": "b", "model": "m", "variant": "v"}).run(name="r") as run:
            run.log_file(repo / "weights.bin", name="ckpt/weights.bin")
            for step in range(3):
                run.log_image("eval/pred", np.full((5, 7), step * 60, dtype=np.uint8), step=step, caption="c")
    vault_run(repo, "runs", check=True)  # the server writes no file: the caches are built first
    with McpClient(repo) as client:
        raw = client.raw("list_files", run_id=run.id)
        page = client.call("list_files", run_id=run.id)
        assert page["total"] == 4 and page["truncated"] is False and page["run_id"] == run.id
        first = page["items"][0]
        assert first == {"name": "ckpt/weights.bin", "kind": "file", "step": None, "size": len(payload),
                         "media_type": "application/octet-stream", "width": None, "height": None, "caption": None}
        assert [(i["name"], i["kind"], i["step"], i["width"], i["height"]) for i in page["items"][1:]] == [
            ("eval/pred", "image", s, 7, 5) for s in range(3)]
        assert all(isinstance(i["size"], int) and i["size"] > 0 for i in page["items"])
        text = raw.content[0].text
        assert len(raw.content) == 1 and raw.content[0].type == "text"  # no image or resource content
        assert "binary" not in text and "objects/" not in text and "blob" not in text and "PNG" not in text
        small = client.call("list_files", run_id=run.id[:12], name_prefix="eval/", limit=2)
        assert small["total"] == 3 and small["truncated"] is True and len(small["items"]) == 2
        assert "has no" in client.error("list_files", run_id="nope") or "not found" in client.error("list_files", run_id="nope").lower()
