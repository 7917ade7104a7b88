"""push / pull over real ssh on loopback, for both git and rsync.

Starts a throwaway ``sshd`` on a free high port of 127.0.0.1 (its own host key, user key and
config in a temp dir) and uses an ``ssh://root@127.0.0.1:PORT/...`` remote: records and small
blobs travel by git over ssh, blobs over ``vault.blobLimit`` by rsync to the large-blob
destination (the port passed to rsync as ``-e "ssh -p PORT"``). Skipped, loudly, only when sshd
is missing or cannot start.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from gitvault import Vault
from gitvault.sync.exchange import missing_blobs, pull, push
from tests.conftest import git, vault_cmd
from tests.test_merge import add_run, add_tags, init_repo, tree_of, view

SSHD = Path("/usr/sbin/sshd")


def _skip(reason: str) -> None:
    message = f"SSH INTEGRATION TEST SKIPPED: {reason}"
    sys.stderr.write(f"\n{'!' * 20} {message} {'!' * 20}\n")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sshd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    if not SSHD.exists() or shutil.which("ssh-keygen") is None:
        _skip("/usr/sbin/sshd or ssh-keygen is not installed (apt-get install openssh-server)")
    if shutil.which("rsync") is None:
        _skip("rsync is not installed")
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "user_key.pub").read_text())
    (keys / "authorized_keys").chmod(0o600)
    user = getpass.getuser()
    privsep = Path("/run/sshd")
    if not privsep.exists():
        try:
            privsep.mkdir(mode=0o755, parents=True)  # sshd's privilege-separation dir
        except OSError as exc:
            _skip(f"sshd needs {privsep} and it cannot be created ({exc})")
    port = _free_port()
    config = keys / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {keys / 'host_key'}",
        f"AuthorizedKeysFile {keys / 'authorized_keys'}", "StrictModes no", "UsePAM no",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin yes", f"PidFile {keys / 'sshd.pid'}", "LogLevel ERROR",
        f"SetEnv PATH={os.environ['PATH']}",
    ]) + "\n")
    log = keys / "sshd.log"
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                            stderr=log.open("w"))
    ssh = (f"ssh -i {keys / 'user_key'} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           "-o LogLevel=ERROR -o BatchMode=yes")
    try:
        for _ in range(100):  # up to ~10 s for sshd to accept a login
            if proc.poll() is not None:
                _skip(f"sshd exited at start: {log.read_text().strip()[-400:]}")
            probe = subprocess.run([*ssh.split(), "-p", str(port), f"{user}@127.0.0.1", "true"],
                                   capture_output=True, text=True, timeout=20)
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        else:
            _skip(f"cannot log in to the test sshd: {probe.stderr.strip()[-300:]}")
        monkeypatch.setenv("GIT_SSH_COMMAND", ssh)
        monkeypatch.setenv("RSYNC_RSH", ssh)
        yield user, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_push_and_pull_over_ssh(sshd: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user, port = sshd
    remote = tmp_path / "srv" / "proj.git"
    remote.parent.mkdir()
    git(tmp_path, "init", "-q", "--bare", str(remote))
    url = f"ssh://{user}@127.0.0.1:{port}{remote}"

    a = init_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", url)
    large = tmp_path / "srv" / "large-blobs"
    git(a, "config", "vault.origin.blobs", f"ssh://{user}@127.0.0.1:{port}{large}")  # rsync over ssh
    git(a, "config", "vault.blobLimit", "4k")
    vault_a = Vault.open(a)
    shared = add_run(vault_a, "ssh/exp/v1", blob_size=5000)  # over the limit: rsync
    add_run(vault_a, "ssh/exp/v0", blob_size=100)  # under it: refs/vault/blobs over ssh
    proc = vault_cmd(a, "push", check=True)
    assert "pushed to origin: 2 runs, 2 experiments" in proc.stdout
    assert len(list(large.glob("*/*"))) == 1
    assert git(remote, "rev-parse", "refs/vault/main").stdout == git(a, "rev-parse", "refs/vault/main").stdout
    assert len(git(remote, "ls-tree", "-r", "--name-only", "refs/vault/blobs").stdout.split()) == 1

    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", url, str(b))
    git(b, "config", "vault.origin.blobs", f"ssh://{user}@127.0.0.1:{port}{large}")
    proc = vault_cmd(b, "pull", check=True)
    assert "2 runs" in proc.stdout and "of blobs (2)" in proc.stdout
    vault_b = Vault.open(b)
    assert missing_blobs(vault_b) == []

    add_tags(vault_a, shared, "from-a")
    add_tags(vault_b, shared, "from-b")
    add_run(vault_b, "ssh/exp/v2")
    push(a)
    push(b)  # rejected first (a pushed), then merged and pushed again
    pull(a)
    assert tree_of(vault_a) == tree_of(vault_b)
    assert missing_blobs(vault_a) == [] and missing_blobs(vault_b) == []
    assert set(view(vault_a, "run", shared)["tags"]) == {"from-a", "from-b"}

    # the scp-like form host:path (the port comes from the ssh command, as from ~/.ssh/config)
    for var in ("GIT_SSH_COMMAND", "RSYNC_RSH"):
        monkeypatch.setenv(var, f"{os.environ[var]} -p {port}")
    c = tmp_path / "c"
    git(tmp_path, "clone", "-q", f"{user}@127.0.0.1:{remote}", str(c))
    git(c, "config", "vault.origin.blobs", f"{user}@127.0.0.1:{large}")
    counts = pull(c)
    assert counts["runs"] == 3 and counts["blobs"] == 3
    assert tree_of(Vault.open(c)) == tree_of(vault_a)
