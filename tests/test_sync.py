"""push / pull / sync / export / import against a real bare remote and real clones."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pygit2
import pytest

from gitvault import BlobError, BlobStore, Vault
from gitvault.integrity.checks import fsck
from gitvault.storage.records import experiment_id
from gitvault.sync.exchange import export_archive, fetch_missing_blobs, import_archive, merge, missing_blobs, pull, push
from tests.conftest import git, vault_run as vault_cmd  # in-process: the same command, no start-up
from tests.test_merge import add_run, add_tags, init_repo, tree_of, view


def clone(remote: Path, path: Path, *, cli: bool = False) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(path))
    if cli:
        vault_cmd(path, "pull", check=True)
    else:
        pull(path)
    return path


@pytest.fixture
def cluster(tmp_path: Path) -> dict[str, Path]:
    """A bare remote, clone ``a`` that created the vault and pushed it, and clones ``b``, ``c``."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a = init_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    git(a, "push", "-q", "origin", "main")
    vault_cmd(a, "push", check=True)
    return {"remote": remote, "a": a, "b": clone(remote, tmp_path / "b", cli=True), "c": clone(remote, tmp_path / "c")}


def remote_blobs(remote: Path) -> list[str]:
    """The sha256 names on a bare remote's ``refs/vault/blobs`` (none when it has no such ref)."""
    proc = subprocess.run(["git", "ls-tree", "-r", "--name-only", "refs/vault/blobs"], cwd=remote,
                          capture_output=True, text=True)
    return [line.replace("/", "") for line in proc.stdout.split()] if proc.returncode == 0 else []


def assert_whole(*paths: Path) -> None:
    """Every clone holds the same tree, every blob its records need, and fsck is clean."""
    trees = {tree_of(Vault.open(p)) for p in paths}
    assert len(trees) == 1, trees
    for path in paths:
        vault = Vault.open(path)
        assert missing_blobs(vault) == []
        report = fsck(vault)
        assert report.ok, [f"{p.code}: {p.message}" for p in report.problems]


def test_fresh_clone_pulls_the_vault_and_config_stays_untouched(cluster: dict[str, Path]) -> None:
    b = cluster["b"]
    assert git(b, "rev-parse", "refs/vault/main").stdout == git(cluster["a"], "rev-parse", "refs/vault/main").stdout
    assert (b / ".extract" / "objects").is_dir()
    assert git(b, "status", "--porcelain").stdout == ""
    for clone_path in (cluster["a"], b):
        config = git(clone_path, "config", "--list", "--local").stdout
        assert "vault" not in config, config  # no push/fetch refspecs, no keys written
    assert "vault" not in git(b, "branch", "-r").stdout


@pytest.mark.parametrize("order", [("a", "b", "c"), ("c", "a", "b")])
def test_offline_work_in_three_clones_converges(cluster: dict[str, Path], order: tuple[str, ...]) -> None:
    a, b, c = (Vault.open(cluster[n]) for n in "abc")
    shared = add_run(a, "imagenet/resnet/v1")
    push(a.paths.work_tree)
    pull(b.paths.work_tree)
    pull(c.paths.work_tree)
    written: set[str] = {shared}
    for name, vault in zip("abc", (a, b, c)):
        written.add(add_run(vault, f"imagenet/resnet/{name}", name=name))
        written.add(add_run(vault, "imagenet/resnet/v1", name=f"{name}2"))
        add_tags(vault, shared, f"seen-by-{name}")
    for name in order:
        proc = vault_cmd(cluster[name], "sync", check=True)
        assert "pushed to origin" in proc.stdout
    for name in order:
        pull(cluster[name])
    assert_whole(cluster["a"], cluster["b"], cluster["c"])
    final = Vault.open(cluster["a"]).snapshot()
    assert set(final.ids("run")) == written
    assert set(view(a, "run", shared)["tags"]) == {"seen-by-a", "seen-by-b", "seen-by-c"}
    remote_tip = git(cluster["remote"], "rev-parse", "refs/vault/main").stdout
    assert all(git(cluster[n], "rev-parse", "refs/vault/main").stdout == remote_tip for n in "abc")


def test_push_summary_and_nothing_new(cluster: dict[str, Path]) -> None:
    a = cluster["a"]
    vault = Vault.open(a)
    for i in range(3):
        add_run(vault, f"exp/m/{i}", blob_size=1500)
    proc = vault_cmd(a, "push", check=True)
    assert "pushed to origin: 3 runs, 3 experiments" in proc.stdout and "of blobs (3)" in proc.stdout
    assert len(remote_blobs(cluster["remote"])) == 3
    again = vault_cmd(a, "push", check=True)
    assert "nothing new" in again.stdout and "already up to date" in again.stdout
    counts = json.loads(vault_cmd(cluster["b"], "pull", "--json", check=True).stdout)
    assert counts["runs"] == 3 and counts["experiments"] == 3 and counts["blobs"] == 3
    store = BlobStore(Vault.open(a).paths.objects_dir)
    assert counts["blob_bytes"] == sum(store.path(s).stat().st_size for s in remote_blobs(cluster["remote"]))


def test_four_clones_pushing_at_once_lose_nothing(cluster: dict[str, Path], tmp_path: Path) -> None:
    clones = [cluster["a"], cluster["b"], cluster["c"], clone(cluster["remote"], tmp_path / "d")]
    expected: set[str] = set()
    for i, path in enumerate(clones):
        vault = Vault.open(path)
        for j in range(3):
            expected.add(add_run(vault, f"sweep/w{i}", name=f"w{i}-{j}", blob_size=512))
    procs = [subprocess.Popen(["git", "vault", "push"], cwd=p, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for p in clones]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    for path in clones:
        pull(path)
    assert set(Vault.open(clones[0]).snapshot().ids("run")) == expected
    assert_whole(*clones)


def test_corrupted_blob_on_the_remote_is_refused(cluster: dict[str, Path]) -> None:
    a, b = cluster["a"], cluster["b"]
    vault = Vault.open(a)
    rid = add_run(vault, blob_size=4096)
    push(a)
    sha = vault.snapshot().get("run", rid)["curves"]["blob"]
    # a hostile or broken remote: its blobs ref names the blob but holds other bytes
    bare = pygit2.Repository(str(cluster["remote"]))
    ref = bare.lookup_reference("refs/vault/blobs")
    tree = bare[ref.target].peel(pygit2.Tree)
    bucket = bare.TreeBuilder(bare[tree[sha[:2]].id])
    bucket.insert(sha[2:], bare.create_blob(b"garbage"), pygit2.enums.FileMode.BLOB)
    root = bare.TreeBuilder(tree)
    root.insert(sha[:2], bucket.write(), pygit2.enums.FileMode.TREE)
    sig = pygit2.Signature("mallory", "m@example.invalid")
    ref.set_target(bare.create_commit(None, sig, sig, "swap", root.write(), [ref.target]))
    proc = vault_cmd(b, "pull")
    assert proc.returncode == 1
    assert sha in proc.stderr and "damaged" in proc.stderr and "NOT installed" in proc.stderr
    store = BlobStore(Vault.open(b).paths.objects_dir)
    assert not store.has(sha)
    assert (b / ".git" / "vault" / "bad" / sha).exists()
    assert Vault.open(b).snapshot().has("run", rid)  # the record arrived; the blob is reported missing
    assert not fsck(Vault.open(b)).ok


def test_dry_run_changes_nothing(cluster: dict[str, Path]) -> None:
    a, b, remote = cluster["a"], cluster["b"], cluster["remote"]
    add_run(Vault.open(a), blob_size=1000)
    refs_before = {p: git(p, "for-each-ref").stdout for p in (a, b, remote)}
    proc = vault_cmd(a, "push", "--dry-run", check=True)
    assert "would push to origin: 1 run, 1 experiment, " in proc.stdout and "KB of blobs (1)" in proc.stdout
    assert remote_blobs(remote) == []
    push(a)
    refs_after_push = git(remote, "for-each-ref").stdout
    proc = vault_cmd(b, "pull", "--dry-run", check=True)
    assert "would pull from origin: 1 run, 1 experiment" in proc.stdout
    assert git(b, "for-each-ref").stdout == refs_before[b]
    assert not list((b / ".extract" / "objects").glob("*/*"))
    assert refs_after_push != refs_before[remote]


def test_a_blob_over_the_limit_without_a_destination_stops_the_push(cluster: dict[str, Path]) -> None:
    a, remote = cluster["a"], cluster["remote"]
    git(a, "config", "vault.blobLimit", "2k")
    add_run(Vault.open(a), blob_size=5000)
    before = git(remote, "for-each-ref").stdout
    proc = vault_cmd(a, "push")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "over the 0.0 MiB limit" in proc.stderr and "git config vault.origin.blobs URL" in proc.stderr
    assert git(remote, "for-each-ref").stdout == before  # no record and no blob moved


def test_unknown_remote_is_a_clear_error(vault_repo: Path) -> None:
    proc = vault_cmd(vault_repo, "pull", "nowhere")
    assert proc.returncode == 1 and "no git remote named 'nowhere'" in proc.stderr


def test_configured_blob_destination_is_used(cluster: dict[str, Path], tmp_path: Path) -> None:
    a, b = cluster["a"], cluster["b"]
    elsewhere = tmp_path / "shared-disk" / "blobs"
    elsewhere.parent.mkdir()
    for path in (a, b):
        git(path, "config", "vault.origin.blobs", str(elsewhere))
        git(path, "config", "vault.blobLimit", "2k")
    add_run(Vault.open(a), blob_size=5000)  # over the limit: the shared folder
    add_run(Vault.open(a), blob_size=100)  # under it: the git ref
    push(a)
    assert len(list(elsewhere.glob("*/*"))) == 1 and len(remote_blobs(cluster["remote"])) == 1
    assert pull(b)["blobs"] == 2
    assert_whole(a, b)


def test_records_only_pull_then_lazy_blobs(cluster: dict[str, Path], tmp_path: Path) -> None:
    a, b = cluster["a"], cluster["b"]
    vault_a = Vault.open(a)
    rids = [add_run(vault_a) for _ in range(2)]
    push(a)
    counts = pull(b, records_only=True)
    assert counts["runs"] == 2 and counts["blobs"] == 0
    vault_b = Vault.open(b)
    shas = missing_blobs(vault_b)
    assert len(shas) == 2
    assert fetch_missing_blobs(vault_b, shas[:1]) == shas[:1]
    c = clone(cluster["remote"], tmp_path / "c2")
    assert missing_blobs(Vault.open(c)) == []
    git(c, "update-ref", "-d", "refs/vault-remotes/origin/blobs")
    for sha in shas:
        BlobStore(Vault.open(c).paths.objects_dir).delete(sha)
    moved = cluster["remote"].rename(tmp_path / "offline")
    with pytest.raises(BlobError, match="pull --blobs-only"):
        fetch_missing_blobs(Vault.open(c), shas)
    assert fetch_missing_blobs(vault_b, shas[1:]) == shas[1:]  # already fetched as git objects: no network
    moved.rename(cluster["remote"])
    for sha in shas[1:]:
        BlobStore(vault_b.paths.objects_dir).delete(sha)
    proc = vault_cmd(b, "pull", "--blobs-only", check=True)
    assert "1 B" not in proc.stdout and "(1)" in proc.stdout
    assert missing_blobs(vault_b) == [] and all(vault_b.snapshot().has("run", r) for r in rids)


def test_reports_hold_data_and_the_commands_word_it(cluster: dict[str, Path], tmp_path: Path) -> None:
    """A remote with no vault and blobs a push cannot send are figures of the report; `git vault
    pull` and `push` say them in words (naming the commands that help)."""
    from gitvault.sync.exchange import pull_report, push_report

    a, b = cluster["a"], cluster["b"]
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(empty))
    git(a, "remote", "add", "empty", str(empty))
    report = pull_report(a, "empty")
    assert report.how == "remote-empty" and report.notes == []
    proc = vault_cmd(a, "pull", "empty", check=True)
    assert "git vault: note: empty has no vault yet (no refs/vault/main); `git vault push` creates it" in proc.stderr

    add_run(Vault.open(a))
    push(a)
    pull(b, records_only=True)
    [sha] = missing_blobs(Vault.open(b))
    add_run(Vault.open(b), "bench/model/v2")
    report = push_report(b)
    assert report.unsent == [sha] and not any("records-only" in note for note in report.notes)
    add_run(Vault.open(b), "bench/model/v3")
    proc = vault_cmd(b, "push", check=True)
    assert "1 blob(s) referenced here are not stored here (a --records-only pull?)" in proc.stderr
    assert "`git vault pull --blobs-only` fetches them" in proc.stderr


def test_export_import_round_trip_and_subset(cluster: dict[str, Path], tmp_path: Path) -> None:
    a = cluster["a"]
    vault = Vault.open(a)
    keep = add_run(vault, "vision/resnet/v1")
    add_tags(vault, keep, "best")
    other = add_run(vault, "speech/whisper/v1")
    archive = tmp_path / "all.tar.gz"
    counts = export_archive(a, archive)
    assert counts["runs"] == 2 and counts["blobs"] == 2

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    added = import_archive(archive, fresh)
    assert added["runs"] == 2 and added["experiments"] == 2 and added["events"] == 1 and added["blobs"] == 2
    assert tree_of(Vault.open(fresh)) == tree_of(vault)
    assert_whole(fresh)
    again = import_archive(archive, fresh)
    assert again["runs"] == 0 and again["blobs"] == 0

    subset = tmp_path / "vision.tar.gz"
    proc = vault_cmd(a, "export", str(subset), "--experiment", "vision", check=True)
    assert "exported to" in proc.stdout and "runs" in proc.stdout
    target = init_repo(tmp_path / "target")
    proc = vault_cmd(target, "import", str(subset), check=True)
    assert "imported" in proc.stdout
    snap = Vault.open(target).snapshot()
    assert snap.has("run", keep) and not snap.has("run", other)
    assert snap.has("experiment", experiment_id("vision/resnet/v1"))
    assert not snap.has("experiment", experiment_id("speech/whisper/v1"))
    assert set(view(Vault.open(target), "run", keep)["tags"]) == {"best"}
    assert_whole(target)


def test_tampered_archive_is_refused_whole(cluster: dict[str, Path], tmp_path: Path) -> None:
    a = cluster["a"]
    add_run(Vault.open(a), blob_size=3000)
    archive = tmp_path / "good.tar.gz"
    export_archive(a, archive)
    tampered = tmp_path / "bad.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and member.name.startswith("blobs/"):
                data = b"X" + data[1:]
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    target = init_repo(tmp_path / "target")
    before = git(target, "rev-parse", "refs/vault/main").stdout
    proc = vault_cmd(target, "import", str(tampered))
    assert proc.returncode == 1 and "damaged" in proc.stderr and "nothing was imported" in proc.stderr
    assert git(target, "rev-parse", "refs/vault/main").stdout == before
    assert not list((target / ".extract" / "objects").glob("*/*"))
    assert not (target / ".extract" / "incoming").exists() or not any((target / ".extract" / "incoming").iterdir())


def test_merge_another_local_vault(tmp_path: Path) -> None:
    one, two = init_repo(tmp_path / "one"), init_repo(tmp_path / "two")
    rid = add_run(Vault.open(one))
    add_run(Vault.open(two))
    counts = merge(two, one / ".extract")
    assert counts["runs"] == 1 and counts["blobs"] == 1
    vault = Vault.open(two)
    assert vault.snapshot().has("run", rid) and fsck(vault).ok
    assert len(vault.repo[vault.tip()].parents) == 2


def test_blobs_only_push_and_sync_dry_run(cluster: dict[str, Path]) -> None:
    a, remote = cluster["a"], cluster["remote"]
    add_run(Vault.open(a))
    remote_ref = git(remote, "rev-parse", "refs/vault/main").stdout
    proc = vault_cmd(a, "push", "--blobs-only", check=True)
    assert "(1)" in proc.stdout
    assert len(remote_blobs(remote)) == 1
    assert git(remote, "rev-parse", "refs/vault/main").stdout == remote_ref
    before = git(a, "for-each-ref").stdout
    proc = vault_cmd(a, "sync", "--dry-run", check=True)
    assert "would pull from origin: nothing new" in proc.stdout and "would push to origin: 1 run" in proc.stdout
    assert git(a, "for-each-ref").stdout == before
    assert git(remote, "rev-parse", "refs/vault/main").stdout == remote_ref


def test_model_conflict_is_reported_on_pull(cluster: dict[str, Path]) -> None:
    from gitvault import Transaction
    from gitvault.storage.records import model_id

    a, b = cluster["a"], cluster["b"]
    for path in (a, b):
        blob = BlobStore(path / ".extract" / "objects").put_bytes(f"weights of {path.name}".encode())
        tx = Transaction(message="register model")
        tx.put("model", model_id("resnet", "1"), {
            "name": "resnet", "version": "1", "run_id": None, "framework": "torch", "metadata": {},
            "created_at": "2026-01-01T00:00:00.000000Z", "blob": blob, "size": 3})
        Vault.open(path).commit(tx)
    push(a)
    proc = vault_cmd(b, "pull", check=True)
    assert "conflict kept: model 'resnet' version '1'" in proc.stdout and "1 conflict" in proc.stdout
    assert fsck(Vault.open(b)).ok  # the losing version's blob arrived too


def test_blobs_never_pushed_are_reported_missing(cluster: dict[str, Path]) -> None:
    a, b = cluster["a"], cluster["b"]
    rid = add_run(Vault.open(a))
    vault_cmd(a, "push", "--records-only", check=True)
    assert remote_blobs(cluster["remote"]) == []
    proc = vault_cmd(b, "pull")
    assert proc.returncode == 1 and "on neither this machine nor the remote" in proc.stderr
    assert Vault.open(b).snapshot().has("run", rid)
    vault_cmd(a, "push", "--blobs-only", check=True)
    vault_cmd(b, "pull", "--blobs-only", check=True)
    assert missing_blobs(Vault.open(b)) == []


def test_a_records_only_push_then_a_push_sends_the_blobs(cluster: dict[str, Path]) -> None:
    a, b, remote = cluster["a"], cluster["b"], cluster["remote"]
    add_run(Vault.open(a), blob_size=2000)
    vault_cmd(a, "push", "--records-only", check=True)
    assert remote_blobs(remote) == []
    proc = vault_cmd(a, "push", "--dry-run", check=True)
    assert "would push to origin: " in proc.stdout and "KB of blobs (1)" in proc.stdout, proc.stdout
    proc = vault_cmd(a, "push", check=True)
    assert "(1)" in proc.stdout and len(remote_blobs(remote)) == 1
    assert "nothing new" in vault_cmd(a, "push", "--dry-run", check=True).stdout
    pull(b)
    assert_whole(a, b)


def test_curves_reach_the_caches_once_their_blobs_arrive(cluster: dict[str, Path]) -> None:
    a, b = cluster["a"], cluster["b"]
    add_run(Vault.open(a))
    push(a)
    pull(b, records_only=True)
    count = 'SELECT count(*) AS n FROM curves'
    assert json.loads(vault_cmd(b, "sql", count, "--format", "json", check=True).stdout)[0]["n"] == 0
    vault_cmd(b, "pull", "--blobs-only", check=True)
    assert json.loads(vault_cmd(b, "sql", count, "--format", "json", check=True).stdout)[0]["n"] > 0
