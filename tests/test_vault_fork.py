"""A vault object used in a forked child while a parent thread held its lock at fork time."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from gitvault import Transaction, Vault


def test_forked_child_does_not_inherit_a_held_thread_lock(vault_repo: Path) -> None:
    vault = Vault.open(vault_repo)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with vault._thread_lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:  # child: the lock's owner thread does not exist here
        code = 1
        try:
            signal.alarm(20)  # a deadlock ends the child instead of hanging the suite
            tx = Transaction("from the child")
            tx.put("todo", "01CHILD", {"content": "written after fork", "scope_type": "global"})
            vault.commit(tx)
            code = 0 if vault.snapshot().has("todo", "01CHILD") else 2
        finally:
            os._exit(code)
    release.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert Vault.open(vault_repo).snapshot().get("todo", "01CHILD")["content"] == "written after fork"
