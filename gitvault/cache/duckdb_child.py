"""``python -m gitvault.cache.duckdb_child GIT_DIR DUCKDB_PATH TIP``: the second process of
`Caches.rebuild(processes=2)`, which builds the DuckDB cache of the vault at commit TIP into
DUCKDB_PATH while its parent writes the SQLite one, and prints ``{"points", "problems"}`` as JSON.
It takes no lock: its parent holds the caches' lock for it."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m gitvault.cache.duckdb_child GIT_DIR DUCKDB_PATH TIP\n")
        return 2
    git_dir, path, tip = argv
    gc.disable()  # a process of ours building millions of acyclic objects (see cli/collector.py)
    from gitvault.cache import Caches
    from gitvault.storage.vault import Vault

    with Caches(Vault.open(git_dir)) as caches:
        points, problems = caches.build_duckdb_file(Path(path), tip or None)
    print(json.dumps({"points": points, "problems": problems}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
