"""Your code history with the runs of each commit: `Query.history`, the one implementation behind
`git vault log` and the MCP tool `vault_log` (and the TUI's history view).

Commits are listed by ``git log`` itself (`log_commits`), so every revision argument git takes
works (ranges, ``-n``, ``--all``, ``--since``, ``-- paths``) and the commits are exactly the ones
``git log`` lists; ``--all`` leaves out the vault's own refs. Under each commit, from the caches
(`RunQueries.runs_for_commits`), each run carries a ``state``:

- ``clean``: made on this commit with a clean work tree;
- ``dirty``: made on uncommitted changes on top of this commit, and that code was not committed
  since (once it is, the run shows under that commit instead, as ``linked``);
- ``linked``: it ran on uncommitted code that this commit holds (``linked_via`` says how:
  post-commit, amend, rebase, catch-up);
- ``orphaned``: it ran on a commit that an amend or rebase rewrote to other code
  (``rewritten_from``: the old commit; ``patch``: the blob that turns this commit into its code).

Reading never writes: linking commits made since the last look (`gitvault.gitlink.linking.catch_up`) is
the caller's choice (`git vault log` does it first; the read-only MCP server does not).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gitvault.storage import records
from gitvault.errors import CorruptRecordError, QueryError, RecordNotFoundError, VaultError
from gitvault.query.base import check_limit, chunks, marks
from gitvault.query.runs import RunQueries
from gitvault.storage.repo import git_output

if TYPE_CHECKING:
    from gitvault.query.shapes import Commit, History, HistoryCommit, HistoryRun

VAULT_REF_GLOBS = ("refs/vault/*", "refs/vault-remotes/*", "refs/notes/*")
"""Left out of ``--all``: the vault's records, blobs, remotes' copies and notes are no code history."""
REFUSED_ARGS = ("--output",)
_FIELDS = ("sha", "short", "parents", "author", "email", "date", "authored_at", "committed_at", "summary")
_FORMAT = "%x1e" + "%x1f".join(("%H", "%h", "%P", "%an", "%ae", "%ad", "%aI", "%ct", "%s"))


def log_commits(cwd: str | Path | None, revisions: Sequence[str],
                limit: int | None = None) -> tuple[list[Commit], bool]:
    """(commits newest first as ``git log <revisions>`` lists them, whether more exist past
    ``limit``). ``cwd``: where git runs (paths after ``--`` are relative to it). Each commit:
    ``{sha, short (git's abbreviation), parents, author, email, date (git's own date format),
    authored_at (ISO 8601), committed_at (UTC, Z), summary}``. A git error raises `VaultError`
    ("git log failed: ...")."""
    commits, more, _ = _log(cwd, revisions, limit, decorated=False)
    return commits, more


def _log(cwd: str | Path | None, revisions: Sequence[str], limit: int | None,
         decorated: bool) -> tuple[list[Commit], bool, list[str]]:
    """`log_commits`, plus with ``decorated`` each commit's ref names (git's ``%D``), in order."""
    if isinstance(revisions, str) or not isinstance(revisions, (list, tuple)) or not all(
            isinstance(r, str) for r in revisions):
        raise QueryError(f"revisions must be a list of git log arguments such as ['-n', '5', 'main'], got {revisions!r}")
    before, paths = list(revisions), []
    if "--" in before:
        i = before.index("--")
        before, paths = before[:i], before[i:]
    for arg in before:
        if arg.startswith(REFUSED_ARGS):
            raise QueryError(f"{arg!r} is not a revision: history reads commits and writes nothing; leave it out")
    revs: list[str] = [] if limit is None else [f"--max-count={limit + 1}"]  # an -n among the revisions wins
    for arg in before:
        if arg == "--all":
            revs.extend(f"--exclude={glob}" for glob in VAULT_REF_GLOBS)
        revs.append(arg)
    cmd = ["git", "log", "--no-color", *revs, f"--format={_FORMAT}{'%x1f%D' if decorated else ''}", *paths]
    proc = subprocess.run(cmd, cwd=None if cwd is None else str(cwd), capture_output=True, text=True,
                          errors="replace", stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise VaultError(f"git log failed: {proc.stderr.strip() or proc.stdout.strip()}")
    commits: list[Commit] = []
    decorations: list[str] = []
    for line in proc.stdout.split("\n"):  # not splitlines(): it splits on \x1e and \x1f too
        if "\x1e" not in line:
            continue
        fields = line.split("\x1e", 1)[1].split("\x1f")
        if decorated and len(fields) == len(_FIELDS) + 1:
            decorations.append(fields.pop())
        if len(fields) != len(_FIELDS):
            continue
        sha, short, parents, author, email, date, authored_at, committed_at, summary = fields
        commits.append({"sha": sha, "short": short, "parents": parents.split(), "author": author, "email": email,
                        "date": date, "authored_at": authored_at, "committed_at": _utc(committed_at),
                        "summary": summary})
    if limit is not None and len(commits) > limit:
        return commits[:limit], True, decorations[:limit]
    return commits, False, decorations


def _utc(unix: str) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(int(unix), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _names_head(decoration: str) -> bool:
    """Whether a commit's ref names (``git log``'s ``%D``) include HEAD."""
    return any(name == "HEAD" or name.startswith("HEAD -> ") for name in decoration.split(", "))


def _head_branch(decoration: str) -> str | None:
    """The branch in HEAD's ref names as ``git log`` prints them (``HEAD -> main, origin/main``);
    None when HEAD is detached (``HEAD, main``)."""
    for name in decoration.split(", "):
        if name.startswith("HEAD -> "):
            return name.removeprefix("HEAD -> ").removeprefix("refs/heads/")
    return None


def current_branch(where: str | Path) -> str | None:
    """The branch HEAD is on at ``where`` (also when it has no commit yet); None when detached."""
    out = git_output(Path(where), "symbolic-ref", "-q", "HEAD")
    return out[0].removeprefix("refs/heads/") if out else None


class HistoryQueries(RunQueries):

    def history(self, revisions: Sequence[str] | None = None, limit: int | None = None,
                cwd: str | Path | None = None) -> History:
        """Commits newest first with their runs: ``{branch, items: [commit + runs], truncated[,
        limit_clamped]}`` (commit fields: `log_commits`; each run: the usual run item plus
        ``state``, ``linked_via``, ``dirty`` and, for orphaned runs, ``rewritten_from`` and
        ``patch``). ``revisions``: ``git log`` arguments (None: the current branch; an unborn
        branch has no commits). ``limit``: at most this many commits (at most 500; None = all git
        lists). ``cwd``: where git runs (default: the work tree)."""
        lim, clamped = check_limit(limit)
        where = cwd if cwd is not None else (self.paths.work_tree or self.paths.git_dir)
        try:  # each commit with its ref names: HEAD's say its branch when HEAD is listed (first, by default)
            commits, truncated, refs = _log(where, ["HEAD"] if revisions is None else revisions, lim, decorated=True)
        except VaultError:
            if revisions is not None or git_output(Path(where), "rev-parse", "-q", "--verify", "HEAD^{commit}"):
                raise  # git's own error, not an unborn branch
            commits, truncated, refs = [], False, []  # no commit yet
        head = next((names for names in refs if _names_head(names)), None)
        branch = _head_branch(head) if head is not None else current_branch(where)
        items = self._attach_runs(commits)
        out: History = {"branch": branch, "items": items, "truncated": truncated}
        if clamped:
            out["limit_clamped"] = True
        return out

    def _attach_runs(self, commits: list[Commit]) -> list[HistoryCommit]:
        """Each commit with its runs, each run with its ``state`` (see the module's docstring)."""
        by_sha = self.runs_for_commits([c["sha"] for c in commits]) if commits else {}
        made_dirty = [r["id"] for runs in by_sha.values() for r in runs
                      if r.get("dirty") and (r.get("linked_via") or "git_sha") == "git_sha"]
        linked = self._linked_commits(made_dirty)
        out: list[HistoryCommit] = []
        for commit in commits:
            runs: list[HistoryRun] = []
            for item in by_sha.get(commit["sha"], []):
                via = item.get("linked_via") or "git_sha"
                if via == "git_sha":
                    if item.get("dirty") and linked.get(item["id"], set()) - {commit["sha"]}:
                        continue  # that uncommitted code was committed since: shown under that commit
                    runs.append({**item, "state": "dirty" if item.get("dirty") else "clean"})
                elif via.startswith("orphaned"):
                    record = self._link_record(item["id"], commit["sha"])
                    runs.append({**item, "state": "orphaned", "rewritten_from": record.get("rewritten_from"),
                                 "patch": record.get("patch")})
                else:
                    runs.append({**item, "state": "linked"})
            out.append({**commit, "runs": runs})
        return out

    def _linked_commits(self, run_ids: list[str]) -> dict[str, set[str]]:
        """Run id -> the commits it has link records for (any via)."""
        out: dict[str, set[str]] = {}
        cursor = self.tuples()
        for part in chunks(sorted(set(run_ids))):
            for run_id, commit in cursor.execute(
                    f'SELECT run_id, "commit" FROM run_links WHERE run_id IN ({marks(len(part))})', part):
                out.setdefault(run_id, set()).add(commit)
        return out

    def _link_record(self, run_id: str, commit: str) -> dict[str, Any]:
        try:
            return self.vault.snapshot().get("link", records.link_id(run_id, commit))
        except (RecordNotFoundError, CorruptRecordError):
            return {}
