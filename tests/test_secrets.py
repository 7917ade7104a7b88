"""Nothing secret leaves the machine (issue 22): capture leaves credentials out or redacts them,
push refuses what is left unless told, and the scanner stays quiet on what a tracker stores."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from gitvault import SecretRedactedWarning, Store, Vault
from gitvault.secrets.outgoing import scan
from gitvault.secrets.scan import redact, redact_argv, scan_text, scan_value
from tests.conftest import git, make_repo, vault_cmd, vault_run

AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
GITHUB = "ghp_R2d2C3poLukeLeiaHanSoloChewbacca0123"
OPENAI = "sk-proj-Zx81Qw7Ermp3Lk5Tn2Vb6Cy4Hj9Ud0Sa"
HF = "hf_QmTxRwPvLsKdJfHgBnMzXcVaSqWeRtYuIoPl"
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
SECRETS = (AWS, GITHUB, OPENAI, HF, "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "hunter2-is-my-pw")


def _all_git_objects(repo: Path) -> bytes:
    """The content of every object in a repository's object database."""
    ids = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").stdout.split()
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input="\n".join(ids).encode(),
                          capture_output=True, check=True)
    return proc.stdout


def _blob_store_bytes(repo: Path) -> bytes:
    store = repo / ".git" / "vault" / "objects"
    return b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())


def test_the_repro_leaves_no_secret_in_a_teammates_clone(tmp_path: Path) -> None:
    """.env, credentials.json, id_rsa, a settings file holding a key, an OpenAI key in the
    config, a Hugging Face token on the command line: push, clone, pull; nothing arrives."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "me", "init")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    (repo / ".env").write_text(f"AWS_SECRET_ACCESS_KEY={AWS}\n")
    (repo / "credentials.json").write_text(f'{{"token": "{GITHUB}"}}\n')
    (repo / "id_rsa").write_text(PRIVATE)
    (repo / "settings.py").write_text('password = "hunter2-is-my-pw"\nLR = 0.1\n')
    (repo / "model.py").write_text("import torch\n")
    (repo / "train.py").write_text("print('training v2')\n")  # a tracked change: in the patch
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import warnings, gitvault
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            store = gitvault.Store({str(repo)!r})
            with store.experiment({{"benchmark": "b", "model": "m"}}).run(
                    config={{"lr": 0.1, "openai": {{"api_key": {OPENAI!r}}}, "sha": "{'ab' * 20}"}}) as run:
                run.curve(0, loss=1.0)
                print(run.id)
        for w in caught:
            print("WARNING", w.message)
    """))
    proc = subprocess.run([sys.executable, str(script), f"--hf-token={HF}", "--lr", "0.1"], cwd=repo,
                          capture_output=True, text=True, check=True)
    run_id = proc.stdout.split()[0]
    warned = [line for line in proc.stdout.splitlines() if line.startswith("WARNING")]
    assert any("config.openai.api_key" in w for w in warned) and any("argv[1]" in w for w in warned)
    assert not any(s in proc.stdout for s in SECRETS)  # the warning names the field, never the value

    record = Store(repo).get_run(run_id).record
    left_out = {f["path"]: f["why"] for f in record["git"]["untracked_left_out"]}
    assert left_out[".env"] == left_out["id_rsa"] == left_out["credentials.json"] == "credential-shaped name"
    assert left_out["settings.py"] == "secret found: Secret Keyword"
    assert record["config"]["openai"]["api_key"] == "***redacted: OpenAI Token***"
    assert record["argv"][1] == "--hf-token=***redacted: Hugging Face Token***"
    assert record["argv"][2:] == ["--lr", "0.1"] and record["config"]["sha"] == "ab" * 20
    assert {r["field"] for r in record["redacted"]} == {"config.openai.api_key", "argv[1]"}
    patch = Store(repo).blobs.read_bytes(record["git"]["patch"]).decode()
    assert "import torch" in patch and "training v2" in patch

    vault_run(repo, "push", check=True)
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(remote), str(mate))
    vault_run(mate, "pull", check=True)
    assert Store(mate).get_run(run_id).record["git"]["untracked_left_out"]
    everything = _all_git_objects(mate) + _blob_store_bytes(mate)
    assert b"import torch" in everything  # the patch did arrive
    for secret in SECRETS:
        assert secret.encode() not in everything, secret


def test_push_refuses_a_secret_in_a_note_and_allow_secrets_sends_it(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "me", "init")
    git(repo, "remote", "add", "origin", str(remote))
    store = Store(repo)
    with store.experiment({"benchmark": "b", "model": "m"}).run(config={"lr": 0.1}, name="r1") as run:
        run.note(f"the bucket key is AKIAIOSFODNN7EXAMPLE, github {GITHUB}")
        rid = run.id
    dry = vault_run(repo, "push", "--dry-run", check=True)
    assert "would refuse: 2 suspected secret(s)" in dry.stdout
    assert f"run {rid} (b/m#r1)" in dry.stdout and "AWS Access Key" in dry.stdout and "GitHub Token" in dry.stdout
    refused = vault_run(repo, "push")
    assert refused.returncode != 0
    lines = refused.stderr.splitlines()
    assert lines[0].startswith("git vault: error: push refused: 2 suspected secret(s)")
    assert any("note" in line and "AWS Access Key" in line for line in lines)
    assert GITHUB not in refused.stderr and "AKIAIOSFODNN7EXAMPLE" not in refused.stderr
    assert git(remote, "for-each-ref").stdout == ""  # nothing was sent, blobs included
    sent = vault_run(repo, "push", "--allow-secrets", check=True)
    assert "pushed to origin" in sent.stdout and "2 suspected secret(s)" in sent.stderr
    assert "refs/vault/main" in git(remote, "for-each-ref").stdout
    assert vault_run(repo, "push", check=True).returncode == 0  # already sent: nothing new to refuse


def test_push_scans_patches_and_text_artifacts(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text(f'TOKEN = "{GITHUB}"\n')  # a tracked change
    store = Store(vault_repo)
    with store.experiment({"benchmark": "b", "model": "m"}).run() as run:
        run.log_text("readme", f"# notes\nslack: xoxb-123456789012-1234567890123-{'a' * 24}\n")
    vault = Vault.open(vault_repo)
    found = {str(f) for f in scan(vault, None, vault.tip())}
    assert any("patch: train.py line 1: GitHub Token" in f for f in found), found
    assert any("text readme line 2: Slack Token" in f for f in found), found


def test_demo_vault_and_typical_configs_give_no_findings(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "demo", "demo")
    vault = Vault.open(repo)
    assert scan(vault, None, vault.tip()) == []
    typical = {
        "git_sha": "3f2c1e9a7b5d4c3b2a1908f7e6d5c4b3a2918070", "blob": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "run_id": "01JH2X6Q8R5ZKJ4V7W9N3M2P1C", "uuid": "0b6d6f1c-2c8e-4a57-9d7e-2f1a3b4c5d6e",
        "model_hash": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "path": "/scratch/u/ckpt/epoch=3-step=900.ckpt",
        "tokenizer": "meta-llama/Llama-3.1-8B", "max_tokens": 512, "pad_token": "<pad>", "optimizer": "adamw",
        "wandb_project": "ablations", "data_dir": "s3://bucket/imagenet/train", "secret_sauce": None,
        "password_file": "~/.config/pw.txt", "api_key_env": "OPENAI_API_KEY", "token": "${HF_TOKEN}",
    }
    assert scan_value(typical, "config") == []
    assert redact_argv(["train.py", "--config", "conf/a.yaml", "--hf-token", "$HF_TOKEN", "--lr=3e-4"])[1] == []
    assert scan_text("commit 3f2c1e9a7b5d4c3b2a1908f7e6d5c4b3a2918070\nrun 01JH2X6Q8R5ZKJ4V7W9N3M2P1C\n"
                     "password = os.environ['PW']\n", "note") == []


def test_redaction_at_capture_warns_names_the_field_and_leaves_the_input_alone(vault_repo: Path) -> None:
    config = {"db": "postgres://me:Sup3rS3cret99@db.local/exp", "opt": {"lr": 0.1}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run(config=config) as run:
            run.log(hub_token="hf_QmTxRwPvLsKdJfHgBnMzXcVaSqWeRtYuIoPl", note_text="plain words")
            rid = run.id
    messages = [str(w.message) for w in caught if issubclass(w.category, SecretRedactedWarning)]
    assert any(m.startswith("config.db held what looks like a credential (Basic Auth Credentials)") for m in messages)
    assert any(m.startswith("params.hub_token held what looks like a credential (Hugging Face Token)") for m in messages)
    assert config["db"].endswith("Sup3rS3cret99@db.local/exp")  # the caller's dict is not modified
    record = Store(vault_repo).get_run(rid).record
    assert record["config"]["db"] == "postgres://me:***redacted: Basic Auth Credentials***@db.local/exp"
    assert record["params"] == {"hub_token": "***redacted: Hugging Face Token***", "note_text": "plain words"}
    clean, found = redact({"lr": 0.1}, "config")
    assert clean == {"lr": 0.1} and found == []


@pytest.mark.parametrize("argv, expected", [
    (["t.py", "--password", "Tr0ub4dor&3x"], ["t.py", "--password", "***redacted: Secret Keyword***"]),
    (["t.py", f"--openai_api_key={OPENAI}"], ["t.py", "--openai_api_key=***redacted: OpenAI Token***"]),
    (["t.py", "--api-key", "abcdef123456XYZ"], ["t.py", "--api-key", "***redacted: Secret Keyword***"]),
    (["t.py", "--tokenizer", "bert-base-uncased"], ["t.py", "--tokenizer", "bert-base-uncased"]),
])
def test_argv_redaction(argv: list[str], expected: list[str]) -> None:
    assert redact_argv(argv)[0] == expected


def test_push_refusal_through_the_real_command(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "me", "init")
    git(repo, "remote", "add", "origin", str(remote))
    with Store(repo).experiment({"benchmark": "b", "model": "m"}).run() as run:
        run.note(f"export OPENAI_API_KEY={OPENAI}")
    proc = vault_cmd(repo, "push")
    assert proc.returncode == 1 and "OpenAI Token" in proc.stderr and OPENAI not in proc.stderr


# -- purge -----------------------------------------------------------------------------------------

def _team(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A bare remote and two clones of one project whose vault both have pulled."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    me = make_repo(tmp_path / "me", "init")
    git(me, "remote", "add", "origin", str(remote))
    git(me, "push", "-q", "origin", "main")
    vault_run(me, "push", check=True)
    mate = tmp_path / "mate"
    git(tmp_path, "clone", "-q", str(remote), str(mate))
    vault_run(mate, "pull", check=True)
    return remote, me, mate


def _gc_objects(repo: Path) -> bytes:
    """Every object left after `git gc --prune=now` (which keeps what any ref or reflog reaches)."""
    git(repo, "gc", "-q", "--prune=now")
    assert git(repo, "fsck", "--unreachable").stdout == ""
    return _all_git_objects(repo) + (_blob_store_bytes(repo) if (repo / ".git").is_dir() else b"")


def test_purge_a_leaked_note_everywhere_and_no_merge_brings_it_back(tmp_path: Path) -> None:
    remote, me, mate = _team(tmp_path)
    store = Store(me)
    exp = store.experiment({"benchmark": "b", "model": "m"})
    with exp.run(config={"lr": 0.1}, name="leaky") as run:
        run.note(f"token {GITHUB}")
        leaky = run.id
    with exp.run(config={"lr": 0.2}, name="fine") as run:
        fine = run.id
    vault_run(me, "push", "--allow-secrets", check=True)
    vault_run(mate, "pull", check=True)
    with Store(mate).experiment({"benchmark": "b", "model": "m"}).run(name="mates") as run:  # unpushed work
        mates = run.id
    assert GITHUB.encode() in _all_git_objects(remote)

    out = vault_run(me, "purge", leaky[:10], "--field", "notes", check=True)
    assert f"purged notes of run {leaky}" in out.stdout and "sent the rewrite to origin" in out.stdout
    assert "rotate" in out.stderr
    assert Store(me).get_run(leaky).notes == [] and Store(me).get_run(fine).name == "fine"
    for repo in (me, remote):
        assert GITHUB.encode() not in _gc_objects(repo), repo

    # the teammate still holds the old history and new work: pushing merges, applying the purge
    vault_run(mate, "push", check=True)
    for repo in (mate, remote):
        assert GITHUB.encode() not in _gc_objects(repo), repo
    vault_run(me, "pull", check=True)
    ids = {r["id"] for r in Store(me).list_runs()}
    assert {leaky, fine, mates} <= ids and Store(me).get_run(leaky).notes == []
    assert GITHUB.encode() not in _gc_objects(me)


def test_purge_a_leaked_patch_blob_and_a_teammates_pull_deletes_it(tmp_path: Path) -> None:
    remote, me, mate = _team(tmp_path)
    (me / "train.py").write_text(f'KEY = "{GITHUB}"\n')
    with Store(me).experiment({"benchmark": "b", "model": "m"}).run() as run:
        rid = run.id
    patch = Store(me).get_run(rid).record["git"]["patch"]
    vault_run(me, "push", "--allow-secrets", check=True)
    vault_run(mate, "pull", check=True)
    assert Store(mate).blobs.has(patch)
    (me / "train.py").write_text("print('training')\n")

    out = vault_run(me, "purge", patch, check=True)
    assert f"purged blob {patch[:12]}" in out.stdout
    assert not Store(me).blobs.has(patch)
    assert GITHUB.encode() not in _gc_objects(remote) and GITHUB.encode() not in _gc_objects(me)
    vault_run(mate, "pull", check=True)
    assert not Store(mate).blobs.has(patch)
    assert GITHUB.encode() not in _gc_objects(mate)
    assert vault_run(mate, "fsck").returncode == 0  # a purged blob is gone on purpose, not missing


def test_purge_a_whole_run(vault_repo: Path) -> None:
    exp = Store(vault_repo).experiment({"benchmark": "b", "model": "m"})
    with exp.run(config={"lr": 0.1}) as run:
        run.log_text("readme", f"key {GITHUB}")
        gone = run.id
    with exp.run(config={"lr": 0.2}) as run:
        kept = run.id
    text_blob = next(a["blob"] for a in Store(vault_repo).get_run(gone).artifacts)
    out = vault_run(vault_repo, "purge", gone, check=True)
    assert f"purged run {gone}" in out.stdout and "no remote has this vault yet" in out.stdout
    assert {r["id"] for r in Store(vault_repo).list_runs()} == {kept}
    assert not Store(vault_repo).blobs.has(text_blob)
    assert GITHUB.encode() not in _gc_objects(vault_repo)
    assert gone not in vault_run(vault_repo, "runs").stdout


def test_purge_refuses_what_is_not_there(vault_repo: Path) -> None:
    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run(config={"lr": 0.1}) as run:
        rid = run.id
    tip = Vault.open(vault_repo).tip()
    missing = vault_run(vault_repo, "purge", "01NOSUCHRUN")
    assert missing.returncode != 0 and "no run '01NOSUCHRUN'" in missing.stderr
    no_field = vault_run(vault_repo, "purge", rid, "--field", "config.nope")
    assert no_field.returncode != 0 and "has nothing to purge at 'config.nope'" in no_field.stderr
    assert len(no_field.stderr.strip().splitlines()) == 1
    assert Vault.open(vault_repo).tip() == tip  # nothing changed


def test_purge_deletes_from_a_large_blob_folder(tmp_path: Path) -> None:
    remote, me, _ = _team(tmp_path)
    shelf = tmp_path / "shelf"
    git(me, "config", "vault.origin.blobs", str(shelf))
    git(me, "config", "vault.blobLimit", "1")  # every blob goes to the folder
    with Store(me).experiment({"benchmark": "b", "model": "m"}).run() as run:
        run.log_text("readme", f"key {GITHUB}")
        rid = run.id
    sha = Store(me).get_run(rid).artifacts[0]["blob"]
    vault_run(me, "push", "--allow-secrets", check=True)
    assert (shelf / sha[:2] / sha[2:]).is_file()
    out = vault_run(me, "purge", sha, check=True)
    assert "deleted 1 blob(s) from" in out.stdout
    assert not (shelf / sha[:2] / sha[2:]).exists() and not Store(me).blobs.has(sha)


@pytest.mark.parametrize("detector, sample", [
    ("AWS Access Key", "AKIAIOSFODNN7EXAMPLE"),
    ("Azure Storage Account access key", "AccountKey=" + "a1B2" * 21 + "abcd"),
    ("Basic Auth Credentials", "https://user:pass1234@host/x"),
    ("GitHub Token", GITHUB),
    ("GitLab Token", "glpat-" + "x1Y2" * 5),
    ("JSON Web Token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
    ("Mailchimp Access Key", "0123456789abcdef0123456789abcdef-us12"),
    ("NPM tokens", "//registry.npmjs.org/:_authToken=npm_abcdef123"),
    ("OpenAI Token", "sk-" + "a1" * 10 + "T3BlbkFJ" + "b2" * 10),
    ("OpenAI Token", OPENAI),
    ("Private Key", PRIVATE),
    ("PyPI Token", "pypi-AgEIcHlwaS5vcmc" + "a1" * 35),
    ("SendGrid API Key", "SG." + "a" * 22 + "." + "b" * 43),
    ("Slack Token", "xoxb-123456789012-abc123"),
    ("Square OAuth Secret", "sq0csp-" + "a" * 43),
    ("Stripe Access Key", "sk_live_" + "a1" * 12),
    ("Telegram Bot Token", "123456789:" + "A1" * 17 + "B"),
    ("Hugging Face Token", HF),
    ("Anthropic Key", "sk-ant-api03-" + "a1" * 15),
    ("Google API Key", "AIza" + "b2" * 17 + "c"),
])
def test_every_detector_fires_on_its_format_past_the_hints(detector: str, sample: str) -> None:
    """The substring hints that skip detectors must never skip a real match."""
    assert any(f.detector == detector for f in scan_text(f"value = {sample}\n", "sample")), detector


def test_a_run_sealed_while_pushing_is_scanned_before_it_leaves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What is pushed is the commit that was scanned: a run sealed after the scan is scanned too."""
    import gitvault.sync.exchange as sync

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "me", "init")
    git(repo, "remote", "add", "origin", str(remote))
    with Store(repo).experiment({"benchmark": "b", "model": "m"}).run(name="clean"):
        pass
    real_scan, calls = sync.outgoing.scan, []

    def scan_then_a_training_job_seals(vault, theirs, ours):  # noqa: ANN001, ANN202
        found = real_scan(vault, theirs, ours)
        if not calls:
            with Store(repo).experiment({"benchmark": "b", "model": "m"}).run(name="late") as run:
                run.note(f"key {GITHUB}")
        calls.append(ours)
        return found

    monkeypatch.setattr(sync.outgoing, "scan", scan_then_a_training_job_seals)
    refused = vault_run(repo, "push")
    assert refused.returncode != 0 and "b/m#late" in refused.stderr and "GitHub Token" in refused.stderr
    assert len(calls) == 2
    main = git(remote, "for-each-ref", "refs/vault/main").stdout
    if main:  # the scanned commit may have gone out first; the late run's never did
        assert GITHUB.encode() not in _all_git_objects(remote)


def test_a_patch_shared_by_a_sweep_is_named_for_every_run(vault_repo: Path) -> None:
    (vault_repo / "train.py").write_text(f'TOKEN = "{GITHUB}"\n')
    exp = Store(vault_repo).experiment({"benchmark": "b", "model": "m"})
    ids = []
    for lr in (0.1, 0.2):
        with exp.run(config={"lr": lr}) as run:
            ids.append(run.id)
    vault = Vault.open(vault_repo)
    found = [str(f) for f in scan(vault, None, vault.tip()) if "GitHub Token" in str(f)]
    assert all(any(rid in f for f in found) for rid in ids), found
    out = vault_run(vault_repo, "purge", ids[0])
    assert "kept 1 blob(s) other records use too" in out.stderr and "git vault purge " in out.stderr


def test_params_redactions_are_listed_in_the_record(vault_repo: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run() as run:
            run.log(hub=HF)
            rid = run.id
    assert {"field": "params.hub", "detector": "Hugging Face Token"} in Store(vault_repo).get_run(rid).record["redacted"]


def test_a_clean_run_never_imports_the_scanner(vault_repo: Path) -> None:
    """A typical config, command line and environment meet none of the necessary conditions, so
    the run start does not pay for compiling the scanner's patterns; a secret-looking one does."""
    script = textwrap.dedent(f"""
        import sys, gitvault
        store = gitvault.Store({str(vault_repo)!r})
        with store.experiment({{"benchmark": "b", "model": "m"}}).run(
                config={{"lr": 0.1, "model": "resnet50", "data": "/scratch/imagenet", "tokenizer": "gpt2",
                         "opt": {{"name": "adamw", "betas": [0.9, 0.99]}}}}) as run:
            run.log(acc=0.5, opt="adam")
        print("gitvault.secrets.patterns" in sys.modules)
        with store.experiment({{"benchmark": "b", "model": "m"}}).run(config={{"api_key": "abcdef123456"}}):
            pass
        print("gitvault.secrets.patterns" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", script, "--epochs", "3"], cwd=vault_repo,
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("sample", [GITHUB, OPENAI, HF, f'aws_secret = "{AWS}"', PRIVATE, "AKIAIOSFODNN7EXAMPLE",
                                    "https://u:pw123456@h", "AC" + "a1" * 16, "M" + "a" * 23 + ".abcdef." + "b" * 27,
                                    "glpat-" + "x1Y2" * 5, "123456789:" + "A1" * 17 + "B",
                                    "0123456789abcdef0123456789abcdef-us12", "sk-" + "a1" * 10 + "T3BlbkFJ" + "b2" * 10])
def test_every_format_passes_the_cheap_check(sample: str) -> None:
    """The conditions checked before importing the scanner's patterns never turn a secret away."""
    from gitvault.secrets.scan import _worth_loading

    assert _worth_loading(sample)


def test_purge_notes_added_after_the_run_ended(vault_repo: Path) -> None:
    """A note added with `git vault note` is an event beside the sealed record: purging the run's
    notes removes it too."""
    with Store(vault_repo).experiment({"benchmark": "b", "model": "m"}).run() as run:
        rid = run.id
    vault_run(vault_repo, "note", rid, f"token {GITHUB}", check=True)
    vault = Vault.open(vault_repo)
    assert [f.detector for f in scan(vault, None, vault.tip())] == ["GitHub Token"]
    vault_run(vault_repo, "purge", rid, "--field", "notes", check=True)
    assert Store(vault_repo).get_run(rid).notes == []
    assert GITHUB.encode() not in _gc_objects(vault_repo)


def test_identifiers_gitvault_makes_are_never_taken_for_secrets() -> None:
    """A run id is a random ULID: one in a few thousand holds an AWS key id's shape (A3T + 17
    characters). Ids, git shas and sha256s are not scanned; the same text inside other text is."""
    from gitvault.secrets.scan import scan_value

    ulid = "01M96AA3T6QVX4M6G0S90MV7RT"  # a real run id that a push once refused
    record = {"id": ulid, "experiment_id": "8d329ae7ba1f1ad300db7deecf", "git": {"sha": "a" * 40},
              "blob": "b" * 64, "parent_id": ulid}
    assert scan_value(record, "") == []
    assert [f.detector for f in scan_value({"note": f"key {ulid[6:]}"}, "")] == ["AWS Access Key"]


def test_the_scanner_works_without_detect_secrets() -> None:
    """detect-secrets' patterns are copied into gitvault.secrets.patterns (issue 24: its requests
    and PyYAML left the base install): a scan finds secrets with detect_secrets not importable."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["detect_secrets"] = None  # any import of it raises ImportError
        from gitvault.secrets.scan import redact, scan_text, scan_value
        print(sorted(f.detector for f in scan_value({{"key_id": "AKIAIOSFODNN7EXAMPLE"}}, "config")))
        print(redact({{"api_key": "abcdef123456"}}, "config")[0])
        print([str(f) for f in scan_text('password = "hunter2-is-my-pw"', "settings.py", "settings.py")])
        print("requests" in sys.modules, "yaml" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == ["['AWS Access Key']", "{'api_key': '***redacted: Secret Keyword***'}",
                                        "['settings.py line 1: Secret Keyword']", "False False"], proc.stderr
