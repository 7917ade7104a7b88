"""Large blobs on another host by ``rsync`` over ssh (``host:path``, ``ssh://[user@]host[:port]/path``).

rsync runs as a subprocess so the user's ssh config applies: the ssh command is ``$RSYNC_RSH``,
else ``$GIT_SSH_COMMAND``, else ``ssh``, and a URL's port is passed as ``-e "ssh -p N"``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from gitvault.storage.blobs import BlobStore
from gitvault.errors import SyncError
from gitvault.sync.transports import Advance, BlobTransport

_LISTED = re.compile(r"([0-9a-f]{2})/([0-9a-f]{62})$")


class RsyncBlobs(BlobTransport):
    def __init__(self, dest: str, port: int | None = None, config_key: str = "") -> None:
        self.dest = dest if dest.endswith("/") else dest + "/"
        self.port = port
        self.where = self.dest
        self.config_key = config_key

    def listing(self) -> set[str]:
        proc = subprocess.run(["rsync", "-r", "--list-only", *self._rsh(), self.dest],
                              capture_output=True, text=True) if _have_rsync() else None
        if proc is None:
            raise SyncError(_NO_RSYNC)
        if proc.returncode != 0:
            if "No such file or directory" in proc.stderr:
                return set()
            raise self._failed(proc.returncode, proc.stderr)
        found = set()
        for line in proc.stdout.splitlines():
            match = _LISTED.search(line)
            if match:
                found.add(match[1] + match[2])
        return found

    def put(self, store: BlobStore, shas: list[str], advance: Advance | None = None) -> int:
        rel = [f"{s[:2]}/{s[2:]}" for s in shas]
        code, err = 0, ""
        for _ in range(3):  # a pusher racing us may create the same bucket folder: run again
            code, err = self._rsync(f"{store.root}/", self.dest, rel, advance, extra=["--ignore-existing"])
            if code == 0:
                break
            advance = None
        if code != 0:
            raise SyncError(f"rsync could not send every blob to {self.dest}: {_tail(err)}")
        return sum(store.path(s).stat().st_size for s in shas)

    def get(self, shas: list[str], staging: Path, advance: Advance | None = None) -> None:
        self._rsync(self.dest, f"{staging}/", [f"{s[:2]}/{s[2:]}" for s in shas], advance)

    def _rsh(self) -> list[str]:
        base = os.environ.get("RSYNC_RSH") or os.environ.get("GIT_SSH_COMMAND")
        if self.port is None and base is None:
            return []
        command = base or "ssh"
        if self.port is not None and "-p" not in shlex.split(command):
            command = f"{command} -p {self.port}"
        return ["-e", command]

    def _rsync(self, src: str, dst: str, rel_paths: list[str], advance: Advance | None,
               *, extra: Iterable[str] = ()) -> tuple[int, str]:
        """rsync the listed relative paths; returns (exit code, stderr). Exit codes 23/24 (some
        files missing on the sender) are returned, other failures raise."""
        if not rel_paths:
            return 0, ""
        if not _have_rsync():
            raise SyncError(_NO_RSYNC)
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as fh:
            fh.write("\n".join(rel_paths) + "\n")
            listing = fh.name
        try:
            cmd = ["rsync", "-rt", "--chmod=D755,F444", f"--files-from={listing}", "--out-format=%n",
                   *self._rsh(), *extra, src, dst]
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stderr is not None
            for line in proc.stdout:
                if advance is not None and not line.rstrip().endswith("/"):
                    advance(1)
            err = proc.stderr.read()
            code = proc.wait()
        finally:
            os.unlink(listing)
        if code in (0, 23, 24) or (code == 3 and "change_dir" in err):  # 3: the source folder is absent
            return code, err
        raise self._failed(code, err)

    def _failed(self, code: int, err: str) -> SyncError:
        return SyncError(f"rsync to/from {self.dest} failed (exit {code}): {_tail(err)}; check that the host "
                         f"is reachable{f' or change `git config {self.config_key}`' if self.config_key else ''}")


_NO_RSYNC = ("rsync is not installed; install it (apt-get install rsync / brew install rsync) to move large "
             "blobs to an ssh destination")


def _have_rsync() -> bool:
    return shutil.which("rsync") is not None


def _tail(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
