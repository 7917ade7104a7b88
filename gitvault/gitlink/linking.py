"""Linking runs to the code commits that hold their code.

A run records the commit it started on (``git.sha``) and, when the work tree was dirty, the tree id
that work tree would have if committed (``git.tree``) plus the patch against ``git.sha``.

- A **clean** run is linked to ``git.sha`` from the start: that field is the link, no link record
  is written (`gitvault.query` reports it under that commit). Only a git note is added.
- A **dirty** run is linked to every later commit whose tree id equals ``git.tree`` (the commit
  holds exactly the code the run ran): one ``link`` record per (run, commit) in
  ``refs/vault/main`` and a line in that commit's note under ``refs/notes/vault``, so
  ``git log --notes=vault`` lists the runs as well.
- **Rewrites** (``post-rewrite``, old -> new pairs from amend and rebase): a run on or linked to a
  rewritten commit is linked to the new commit when the trees are equal; otherwise it is reported
  as *orphaned*: a link record with ``via = "orphaned:<amend|rebase>"``, ``rewritten_from`` (the
  old commit) and ``patch`` (a blob: the diff from the new commit to the run's exact code).

Hooks are only an accelerator. `catch_up` finds commits made since the last check (by walking
HEAD and every local branch, hiding the heads seen last time), so commits made by tools that run
no hooks are linked the next time gitvault looks. Its state lives in ``<git-common-dir>/vault/linking.msgpack``:
the vault tip and branch heads last seen plus a small index of every run's git facts, refreshed
from the vault's tree diff, so the cost of a check follows what changed, not the vault's size.
"""

from __future__ import annotations

import datetime as _dt
import os
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import msgpack
import pygit2
from pygit2.enums import DiffOption, SortMode

from gitvault.gitlink.freshness import STATE_FILE, STATE_VERSION
from gitvault.storage import codec, layout, localdir
from gitvault.storage.blobs import BlobStore
from gitvault.errors import CorruptRecordError, RecordNotFoundError
from gitvault.storage.records import link_id
from gitvault.storage.repo import signature
from gitvault.storage.locks import file_lock
from gitvault.storage.vault import Transaction, Vault, changed_entities

NOTES_REF = "refs/notes/vault"
LOCK_FILE = "linking.lock"
HOOK_LOG = "hooks.log"
CLOCK_SLACK_S = 300
"""A commit may link a dirty run only if it was committed after the run started (minus this slack
for clock skew): a tree that reappears in old history is not the code the run went on to commit."""
MAX_WALK = 20_000
NOTE_PREFIX = "gitvault run "
_LINKING_TIMEOUT_S = 60.0

RunFacts = Any  # [sha, tree, dirty, started_unix] (a tuple once loaded)


@dataclass
class LinkReport:
    """What one check did. ``linked``: (run id, commit, via) written now; ``orphaned``: runs whose
    commit was rewritten to different code ({run_id, old, new, patch})."""

    linked: list[tuple[str, str, str]] = field(default_factory=list)
    orphaned: list[dict[str, Any]] = field(default_factory=list)
    notes: int = 0
    commits_checked: int = 0
    runs_indexed: int = 0


# -- public entry points -------------------------------------------------------------------------


def catch_up(vault: Vault, *, via: str = "catch-up") -> LinkReport:
    """Link every dirty run whose tree a commit made since the last check holds, and every newly
    sealed run to the commits made since it started; add the git notes. Idempotent."""
    report = LinkReport()
    if not vault.exists():
        return report
    with _linking_lock(vault):
        state = _State.load(vault)
        new_runs = state.refresh(vault)
        report.runs_indexed = len(state.runs)
        matches, clean_new = _find_matches(vault.repo, state, new_runs, report)
        _apply(vault, matches, clean_new, via, report, state.seen)
        state.save(vault)
    return report


def post_rewrite(vault: Vault, kind: str, pairs: Iterable[tuple[str, str]]) -> LinkReport:
    """Move links from rewritten commits to their rewrites (``kind``: amend or rebase)."""
    pairs = [(old, new) for old, new in pairs if old != new]
    report = catch_up(vault, via=f"post-rewrite:{kind}")
    if not pairs or not vault.exists():
        return report
    repo = vault.repo
    with _linking_lock(vault):
        state = _State.load(vault)
        state.refresh(vault)
        by_sha: dict[str, list[str]] = {}
        for run_id, facts in state.runs.items():
            by_sha.setdefault(facts[0], []).append(run_id)
        matches: list[tuple[str, str, str, str]] = []
        orphans: list[dict[str, Any]] = []
        for old, new in pairs:
            new_commit, old_commit = _commit(repo, new), _commit(repo, old)
            if new_commit is None:
                continue
            for run_id in sorted(set(by_sha.get(old, [])) | set(state.links.get(old, []))):
                facts = state.runs.get(run_id)
                if facts is None:
                    continue
                tree = facts[1] or (str(old_commit.tree_id) if old_commit is not None and not facts[2] else None)
                if tree == str(new_commit.tree_id):
                    matches.append((run_id, new, tree, f"post-rewrite:{kind}"))
                elif not _linked_elsewhere(state, run_id, old):
                    orphans.append({"run_id": run_id, "old": old, "new": new, "tree": tree})
        _apply(vault, matches, [], f"post-rewrite:{kind}", report)
        _write_orphans(vault, orphans, kind, report)
        state.save(vault)
    return report


def link_run(vault: Vault, record: dict[str, Any], *, via: str = "seal") -> LinkReport:
    """Link one run record right away (the SDK's seal path): a dirty run to every commit made since
    it started that holds its tree, a clean one by a note on its commit."""
    report = LinkReport()
    facts = _facts(record)
    if facts is None or not vault.exists():
        return report
    repo = vault.repo
    matches: list[tuple[str, str, str, str]] = []
    clean: list[tuple[str, str]] = []
    if facts[2]:
        for commit in _recent_commits(repo, facts[3]):
            if str(commit.tree_id) == facts[1]:
                matches.append((record["id"], str(commit.id), facts[1], via))
    elif facts[0]:
        clean.append((record["id"], facts[0]))
    _apply(vault, matches, clean, via, report, {record["id"]: record})
    return report


def on_seal(vault: Vault, record: dict[str, Any]) -> None:
    """For the SDK's seal path: `link_run` that never raises (problems go to hooks.log)."""
    try:
        link_run(vault, record)
    except Exception:  # a run must seal even when linking fails
        log_line(vault, f"linking run {record.get('id')} at seal failed:\n{traceback.format_exc()}")


def link_record(vault: Vault, run_id: str, commit: str) -> dict[str, Any] | None:
    """The link record of (run, commit), or None."""
    try:
        return vault.snapshot().get("link", link_id(run_id, commit))
    except (RecordNotFoundError, CorruptRecordError):
        return None


def note_for(repo: pygit2.Repository, commit: str) -> str | None:
    """The ``refs/notes/vault`` note of a commit, or None."""
    try:
        return repo.lookup_note(commit, NOTES_REF).message
    except (KeyError, pygit2.GitError, ValueError):
        return None


def log_line(vault: Vault, text: str) -> None:
    """Append a timestamped line to ``.extract/hooks.log`` (never raises)."""
    try:
        path = vault.extract_dir / HOOK_LOG
        if localdir.is_ours(vault.extract_dir) is not True:
            return  # no folder yet, or another program's store
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"{codec.utc_now()} [{os.getpid()}] {text.rstrip()}\n")
    except OSError:
        pass


# -- state: what was seen last time, and every run's git facts ---------------------------------------


class _State:
    def __init__(self) -> None:
        self.tip: str | None = None
        self.heads: dict[str, str] = {}
        self.next_heads: dict[str, str] | None = None
        self.seen: dict[str, dict[str, Any]] = {}  # what notes need of the runs read by this refresh
        self.runs: dict[str, RunFacts] = {}
        self.links: dict[str, list[str]] = {}
        self.fresh = True
        self.stored = b""  # the file as loaded: an unchanged state is not rewritten

    @classmethod
    def load(cls, vault: Vault) -> "_State":
        state = cls()
        try:
            raw = (vault.paths.data_dir / STATE_FILE).read_bytes()
            data = msgpack.unpackb(raw, raw=False)
        except (OSError, ValueError, msgpack.UnpackException):
            return state
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return state
        try:
            state.tip = data["tip"]
            state.heads = data["heads"]
            cols = data["runs"]
            state.runs = dict(zip(cols["id"], zip(cols["sha"], cols["tree"], cols["dirty"], cols["started"])))
            state.links = data["links"]
        except (KeyError, TypeError):
            return cls()
        state.fresh = False
        state.stored = raw
        return state

    def save(self, vault: Vault) -> None:
        if self.next_heads is not None:
            self.heads = self.next_heads
        facts = list(self.runs.values())
        columns = {"id": list(self.runs), **{name: [f[i] for f in facts]
                                             for i, name in enumerate(("sha", "tree", "dirty", "started"))}}
        # version, tip and heads first: `freshness.seen_heads` reads them without the rest
        body = msgpack.packb({"version": STATE_VERSION, "tip": self.tip, "heads": self.heads,
                              "runs": columns, "links": self.links}, use_bin_type=True)
        if body == self.stored:
            return
        path = vault.paths.data_dir / STATE_FILE
        tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def refresh(self, vault: Vault) -> list[str]:
        """Bring the run index to the vault tip; returns the ids of runs not indexed before."""
        repo = vault.repo
        tip = vault.tip()
        new_tip = str(tip) if tip is not None else None
        if new_tip == self.tip:
            return []
        old = pygit2.Oid(hex=self.tip) if self.tip and self.tip in repo else None
        if old is None:
            self.runs, self.links = {}, {}
        before = set(self.runs)
        snap = vault.snapshot(tip)
        if old is None:
            found: Iterable[tuple[str, str, Any]] = _all_records(snap, ("run", "link"))
        else:
            found = ((kind, rid, None) for kind, rid in sorted(changed_entities(repo, old, tip)[0]))
        for kind, record_id, data in found:
            if kind not in ("run", "link"):
                continue
            try:
                record = codec.decode(data, f"{kind}/{record_id}") if data is not None else snap.get(kind, record_id)
            except RecordNotFoundError:
                self.runs.pop(record_id, None) if kind == "run" else None
                continue
            except CorruptRecordError as exc:
                log_line(vault, f"skipped an unreadable record: {exc}")
                continue
            if kind == "run":
                facts = _facts(record)
                if facts is not None:
                    self.runs[record_id] = facts
                    self.seen[record_id] = _note_facts(record)
            else:
                commit, run_id = record.get("commit"), record.get("run_id")
                if commit and run_id and run_id not in self.links.setdefault(commit, []):
                    self.links[commit].append(run_id)
        self.tip = new_tip
        return [r for r in self.runs if r not in before]


def _all_records(snap: Any, kinds: tuple[str, ...]) -> Iterator[tuple[str, str, bytes]]:
    """(kind, id, record bytes) of every record of ``kinds``, walking the fan-out trees directly."""
    if snap.tree is None:
        return
    repo = snap.repo
    for kind in kinds:
        try:
            top = snap.tree[layout.KIND_DIRS[kind]]
        except KeyError:
            continue
        for a in repo[top.id]:
            for b in repo[a.id]:
                for entity in repo[b.id]:
                    try:
                        yield kind, entity.name, repo[repo[entity.id][layout.RECORD_FILE].id].data
                    except (KeyError, TypeError, AttributeError):
                        continue


def _note_facts(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("id", "experiment_path", "name", "status", "metrics")}


def _facts(record: dict[str, Any]) -> RunFacts | None:
    git = record.get("git") or {}
    if not git.get("sha") and not git.get("tree"):
        return None
    return [git.get("sha"), git.get("tree"), bool(git.get("dirty")), _unix(record.get("started_at"))]


def _unix(text: Any) -> float:
    try:
        return _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _linked_elsewhere(state: _State, run_id: str, old: str) -> bool:
    return any(run_id in runs for commit, runs in state.links.items() if commit != old)


@contextmanager
def _linking_lock(vault: Vault) -> Iterator[None]:
    """One linker at a time per clone (hooks of one rebase run side by side in the background)."""
    with file_lock(vault.paths.data_dir / LOCK_FILE, timeout=_LINKING_TIMEOUT_S):
        yield


# -- finding matches ----------------------------------------------------------------------------


def _heads(repo: pygit2.Repository) -> dict[str, str]:
    """HEAD (also when detached, as during a rebase) and every local branch."""
    heads: dict[str, str] = {}
    try:
        if not repo.head_is_unborn:
            heads["HEAD"] = str(repo.head.target)
    except pygit2.GitError:
        pass
    for name in repo.branches.local:
        try:
            heads[f"refs/heads/{name}"] = str(repo.branches.local[name].target)
        except (KeyError, pygit2.GitError):
            continue
    return heads


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
    try:
        obj = repo[sha]
    except (KeyError, ValueError):
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


def _walker(repo: pygit2.Repository, heads: Iterable[str]) -> pygit2.Walker | None:
    walker = None
    for sha in sorted(set(heads)):
        if _commit(repo, sha) is None:
            continue
        if walker is None:
            walker = repo.walk(pygit2.Oid(hex=sha), SortMode.TIME)
        else:
            walker.push(pygit2.Oid(hex=sha))
    return walker


def _new_commits(repo: pygit2.Repository, state: _State, heads: dict[str, str]) -> Iterator[pygit2.Commit]:
    """Commits reachable from ``heads`` but not from the heads of the last check."""
    walker = _walker(repo, heads.values())
    if walker is None:
        return
    for sha in set(state.heads.values()):
        if _commit(repo, sha) is not None:
            walker.hide(pygit2.Oid(hex=sha))
    for n, commit in enumerate(walker):
        if n >= MAX_WALK:
            return
        yield commit


def _recent_commits(repo: pygit2.Repository, since_unix: float) -> Iterator[pygit2.Commit]:
    """Commits from the heads, newest first, down to ``since_unix`` (minus the clock slack)."""
    walker = _walker(repo, _heads(repo).values())
    if walker is None:
        return
    for n, commit in enumerate(walker):
        if n >= MAX_WALK or commit.commit_time < since_unix - CLOCK_SLACK_S:
            return
        yield commit


def _find_matches(repo: pygit2.Repository, state: _State, new_runs: list[str], report: LinkReport
                  ) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    by_tree: dict[str, list[str]] = {}
    for run_id, facts in state.runs.items():
        if facts[2] and facts[1]:
            by_tree.setdefault(facts[1], []).append(run_id)
    found: dict[tuple[str, str], str] = {}
    state.next_heads = heads = _heads(repo)

    def match(commit: pygit2.Commit, candidates: Iterable[str]) -> None:
        tree = str(commit.tree_id)
        for run_id in candidates:
            facts = state.runs[run_id]
            if facts[1] == tree and commit.commit_time >= facts[3] - CLOCK_SLACK_S:
                found.setdefault((run_id, str(commit.id)), tree)

    if not state.fresh:
        for commit in _new_commits(repo, state, heads):
            report.commits_checked += 1
            runs = by_tree.get(str(commit.tree_id))
            if runs:
                match(commit, runs)
    new_dirty = [r for r in new_runs if state.runs[r][2] and state.runs[r][1]]
    if new_dirty:
        trees: dict[str, list[str]] = {}
        for run_id in new_dirty:
            trees.setdefault(state.runs[run_id][1], []).append(run_id)
        oldest = min(state.runs[r][3] for r in new_dirty)
        for commit in _recent_commits(repo, oldest):
            runs = trees.get(str(commit.tree_id))
            if runs:
                match(commit, runs)
    clean_new = [(r, state.runs[r][0]) for r in new_runs if not state.runs[r][2] and state.runs[r][0]]
    return [(run, commit, tree, "") for (run, commit), tree in sorted(found.items())], clean_new


# -- writing links and notes --------------------------------------------------------------------


def _apply(vault: Vault, matches: list[tuple[str, str, str, str]], clean: list[tuple[str, str]], via: str,
           report: LinkReport, known: dict[str, dict[str, Any]] | None = None) -> None:
    """Write the link records (one vault commit) and the notes for ``matches`` and clean runs."""
    if not matches and not clean:
        return
    written = _write_links(vault, [(r, c, t, v or via) for r, c, t, v in matches], report)
    notes: dict[str, list[tuple[str, str]]] = {}
    for run_id, commit, _tree, how in written:
        notes.setdefault(commit, []).append((run_id, how))
    for run_id, sha in clean:
        if _commit(vault.repo, sha) is not None:
            notes.setdefault(sha, []).append((run_id, "clean"))
    for run_id, commit, _tree, how in matches:  # already linked earlier: make sure the note is there
        if (run_id, commit) not in {(w[0], w[1]) for w in written}:
            notes.setdefault(commit, []).append((run_id, how or via))
    report.notes += _write_notes(vault, notes, known)


def _write_links(vault: Vault, matches: list[tuple[str, str, str, str]], report: LinkReport,
                 extra: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, str, str, str]]:
    if not matches:
        return []
    now = codec.utc_now()
    commits = sorted({c[:10] for _, c, _, _ in matches})
    tx = Transaction(message=f"link {len(matches)} run(s) to {', '.join(commits[:5])}"
                             f"{' ...' if len(commits) > 5 else ''} ({matches[0][3]})")
    paths = {}
    for run_id, commit, tree, how in matches:
        lid = link_id(run_id, commit)
        body = {"run_id": run_id, "commit": commit, "tree": tree, "via": how, "created_at": now}
        body.update((extra or {}).get(lid, {}))
        tx.put("link", lid, body)
        paths[layout.record_path("link", lid)] = (run_id, commit, tree, how)
    kept: list[tuple[str, str, str, str]] = []

    def only_new(snap: Any) -> None:
        kept.clear()
        for path in list(tx.writes):
            if snap.blob_at(path) is not None:
                del tx.writes[path]
            else:
                kept.append(paths[path])

    tx.require(only_new)
    vault.commit(tx)
    report.linked.extend((r, c, v) for r, c, _, v in kept)
    return kept


def _write_orphans(vault: Vault, orphans: list[dict[str, Any]], kind: str, report: LinkReport) -> None:
    if not orphans:
        return
    repo = vault.repo
    blobs = BlobStore(vault.paths.objects_dir)
    matches, extra = [], {}
    for item in orphans:
        patch = _patch_between(repo, item["new"], item["tree"], blobs)
        item["patch"] = patch
        matches.append((item["run_id"], item["new"], item["tree"], f"orphaned:{kind}"))
        extra[link_id(item["run_id"], item["new"])] = {"rewritten_from": item["old"], "patch": patch}
        log_line(vault, f"run {item['run_id']} ran on {item['old'][:10]}, rewritten by {kind} to "
                        f"{item['new'][:10]} with different code: orphaned"
                        + (f"; its code = {item['new'][:10]} + patch blob {patch}" if patch else
                           "; its tree is not in this clone, so no patch could be made"))
    written = _write_links(vault, matches, report, extra)
    report.orphaned.extend(o for o in orphans if (o["run_id"], o["new"]) in {(w[0], w[1]) for w in written})
    notes: dict[str, list[tuple[str, str]]] = {}
    for run_id, commit, _tree, how in written:
        notes.setdefault(commit, []).append((run_id, how))
    report.notes += _write_notes(vault, notes)


def _patch_between(repo: pygit2.Repository, commit: str, tree: str | None, blobs: BlobStore) -> str | None:
    """The binary diff from ``commit`` to ``tree`` as a blob (None when the tree is not here)."""
    base = _commit(repo, commit)
    if base is None or not tree:
        return None
    try:
        target = repo[tree].peel(pygit2.Tree)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    diff = base.tree.diff_to_tree(target, flags=DiffOption.SHOW_BINARY)
    data = b"".join(p.data for p in diff if p is not None)
    return blobs.put_bytes(data) if data else None


def _note_line(run: dict[str, Any], how: str) -> str:
    label = run.get("experiment_path") or "?"
    if run.get("name"):
        label += f"#{run['name']}"
    metrics = []
    for name, item in sorted((run.get("metrics") or {}).items())[:4]:
        value = item.get("value") if isinstance(item, dict) else item
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.append(f"{name}={value:.4g}")
    if how == "clean":
        tail = ""
    elif how.startswith("orphaned"):
        tail = f" (orphaned by {how.split(':', 1)[-1]}: its code differs from this commit; see `git vault log`)"
    else:
        tail = f" (ran on uncommitted code; linked by {how})"
    return f"{NOTE_PREFIX}{run['id']} {label} {run.get('status', '?')}" + \
        (f" {' '.join(metrics)}" if metrics else "") + tail


def _write_notes(vault: Vault, notes: dict[str, list[tuple[str, str]]],
                 known: dict[str, dict[str, Any]] | None = None) -> int:
    """Merge one line per run into each commit's note; returns how many notes changed."""
    if not notes:
        return 0
    repo = vault.repo
    snap = vault.snapshot()
    changed = 0
    sig = signature(repo)
    with vault.locked():
        for commit, items in sorted(notes.items()):
            lines: dict[str, str] = {}
            for run_id, how in items:
                run = (known or {}).get(run_id)
                if run is None:
                    try:
                        run = snap.get("run", run_id)
                    except (RecordNotFoundError, CorruptRecordError):
                        continue
                lines[run_id] = _note_line(run, how)
            if not lines:
                continue
            old = note_for(repo, commit) or ""
            kept = [ln for ln in old.splitlines() if ln.strip()]
            ours = {ln[len(NOTE_PREFIX):].split(" ", 1)[0]: ln for ln in kept if ln.startswith(NOTE_PREFIX)}
            others = [ln for ln in kept if not ln.startswith(NOTE_PREFIX)]
            ours.update(lines)
            text = "\n".join(others + [ours[k] for k in sorted(ours)]) + "\n"
            if text != old:
                repo.create_note(text, sig, sig, commit, NOTES_REF, True)
                changed += 1
    return changed
