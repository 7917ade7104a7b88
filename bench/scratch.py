"""What several benches share: a scratch repository with an empty vault."""

from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path


def repository(root: Path) -> Path:
    """``root`` as a new git repository with one empty commit and `git vault init` run in it."""
    from gitvault.cli.main import main

    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-q",
                    "--allow-empty", "-m", "initial"], cwd=root, check=True)
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["-C", str(root), "init"])
    if code != 0:
        raise SystemExit(f"git vault init failed in {root}")
    return root
