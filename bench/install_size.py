"""Installed size and package count of the base package and of ``[all]`` (issue 24).

    .venv/bin/python bench/install_size.py

Builds two fresh venvs in a temp dir, ``pip install .`` and ``pip install ".[all]"`` from this
checkout (the package registry must be reachable), and prints, for each: the packages installed
besides pip and setuptools (gitvault itself included), and the size of site-packages. Goal: the base
at most 300 MB and 12 packages with its dependencies. Asserts nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_MB, GOAL_PACKAGES = 300, 12


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def measure(where: Path, spec: str) -> tuple[list[str], int, float]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    py = where / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", spec], cwd=REPO, check=True)
    listed = json.loads(subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True,
                                       text=True, check=True).stdout)
    names = sorted(p["name"] for p in listed if p["name"].lower() not in ("pip", "setuptools"))
    site = next((where / "lib").glob("python*/site-packages"))
    return names, size_of(site), time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gitvault-install-") as tmp:
        rows = []
        for label, spec in (("base: pip install git-vault", "."), ('all:  pip install "git-vault[all]"', ".[all]")):
            names, size, seconds = measure(Path(tmp) / label.split(":")[0], spec)
            rows.append((label, names, size, seconds))
    for label, names, size, seconds in rows:
        print(f"{label:38} {len(names):3} packages  {size / 1e6:7.1f} MB   ({seconds:.0f} s to install)")
        print("    " + ", ".join(names))
    base_names, base_size = rows[0][1], rows[0][2]
    print(f"goal for the base: <= {GOAL_MB} MB and <= {GOAL_PACKAGES} packages -> "
          f"{'ok' if base_size / 1e6 <= GOAL_MB else 'MISS'} size, "
          f"{'ok' if len(base_names) <= GOAL_PACKAGES else 'MISS'} count")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
