"""Issue 16, the command line on day one: the runs table (columns, sort by a bare metric name,
headline metrics grouped by '/', a pager on a terminal), `git vault config` (each change a vault
commit) and "best" stars only for metrics whose direction is known, the front door (--version, the
man page, a fresh clone told to pull), and output that agrees with itself."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, make_repo, vault_cmd, vault_run


def ok(root: Path, *args: str) -> str:
    return vault_run(root, *args, check=True).stdout


def fails(root: Path, *args: str) -> str:
    proc = vault_run(root, *args)
    assert proc.returncode != 0, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("git vault: error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Three runs with W&B-style names, metrics of unknown direction, a NaN, an infinity, a big
    number, config floats that do not print as written by repr, and a tag with a comma."""
    from gitvault import Store

    root = make_repo(tmp_path_factory.mktemp("day-one") / "project", "init")
    store = Store(root)
    exp = store.experiment({"benchmark": "synth", "model": "mlp", "variant": "round3"})
    ids = {}
    rows = [("a", 0.1 * 3, 0.91, 0.40, 3e-4, 12, 55.0, 123456789.0),
            ("b", 0.1, 0.95, 0.30, 1e-3, 30, 90.0, float("nan")),
            ("c", 0.2, float("nan"), float("inf"), 5e-3, 45, 20.0, 3.0)]
    for name, lr, acc, loss, lr_used, epochs, latency, big in rows:
        with exp.run(name=f"mlp-{name}", config={"lr": lr, "steps": 10_000_000_000, "wd": 1.0},
                     total_steps=3) as run:
            for step in range(3):
                run.curve(step, **{"train/loss": 1.0 - step * 0.1})
            run.log(**{"val/acc": acc, "val/loss": loss, "lr_used": lr_used, "epochs": epochs,
                       "latency_ms": latency, "tokens": big})
            ids[name] = run.id
    store.tag_run(ids["a"], "lr=0.3,seed=1")
    return root, ids


# -- the runs table --------------------------------------------------------------------------------


def test_runs_default_columns_are_the_shared_metrics_grouped_by_prefix(sweep: tuple[Path, dict[str, str]]) -> None:
    root, _ = sweep
    header = ok(root, "runs").splitlines()[0].split()
    assert header[:6] == ["ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "TAGS"]
    metrics = header[6:]
    assert metrics.index("VAL/LOSS") == metrics.index("VAL/ACC") + 1  # side by side, as a group
    assert {"EPOCHS", "LATENCY_MS", "LR_USED", "TOKENS"} <= set(metrics)


def test_runs_columns_sort_by_bare_metric_and_where(sweep: tuple[Path, dict[str, str]]) -> None:
    root, _ = sweep
    lines = ok(root, "runs", "--columns", "name,val/acc,config.lr,status", "--sort", "-val/acc").splitlines()
    assert lines[0].split() == ["NAME", "VAL/ACC", "CONFIG.LR", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["mlp-b", "mlp-a", "mlp-c"]  # NaN sorts last
    assert lines[2].split()[1:3] == ["0.91", "0.3"]  # 0.1 * 3 shown as written
    where = ok(root, "runs", "--where", "metrics.epochs >= 30", "--columns", "name", "--sort", "name").split()
    assert where == ["NAME", "mlp-b", "mlp-c"]
    assert "did you mean 'status'" in fails(root, "runs", "--sort", "-stauts")
    assert "unknown field 'nmae'" in fails(root, "runs", "--columns", "nmae")
    data = json.loads(ok(root, "runs", "--columns", "name,val/loss", "--json"))
    assert {tuple(sorted(item)) for item in data["items"]} == {("id", "metrics.val/loss", "name")}


def test_runs_refuses_a_bare_metric_no_listed_run_has_naming_close_ones(sweep: tuple[Path, dict[str, str]]) -> None:
    """Review of issue 16: `--sort -bogus`, `--columns name,bogus` and `--sort -val_acc` (the
    metric is val/acc) printed an empty column or an unsorted table without a word."""
    root, _ = sweep
    assert fails(root, "runs", "--sort", "-val_acc").endswith(
        "no metric 'val_acc' in these runs; did you mean 'val/acc'?")
    assert "no metric 'bogus' in these runs; their metrics: " in fails(root, "runs", "--sort", "-bogus")
    assert "no metric 'bogus'" in fails(root, "runs", "--columns", "name,bogus", "--json")
    assert "did you mean 'val/loss'" in fails(root, "runs", "--columns", "name,val-loss")
    # a metric some listed run has works, though the page shown holds no value of it (mlp-b's is NaN)
    lines = ok(root, "runs", "--where", "name != 'mlp-a'", "--columns", "name,tokens", "--sort", "name",
               "--limit", "1").splitlines()
    assert lines[0].split() == ["NAME", "TOKENS"] and lines[1].split() == ["mlp-b"]
    # fields and explicit metrics.NAME stay as they were; no run listed: nothing to check
    assert ok(root, "runs", "--columns", "name,status", "--sort", "-started")
    assert ok(root, "runs", "--where", "metrics.bogus > 1", "--sort", "-bogus").strip() == "(none)"


def test_runs_show_nan_infinity_and_big_numbers_as_every_surface(sweep: tuple[Path, dict[str, str]]) -> None:
    root, ids = sweep
    table = ok(root, "runs", "--columns", "name,val/acc,val/loss,tokens", "--sort", "name")
    assert "123456789" in table and "1.235e+08" not in table
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
    assert rows["mlp-c"] == ["Infinity", "3"]  # a NaN headline metric is stored as missing: blank
    shown = ok(root, "show", ids["c"])
    assert "val/loss = Infinity" in shown
    assert json.loads(ok(root, "show", ids["c"], "--json"))["metrics_final"]["val/loss"] == "Infinity"


def test_a_tag_with_a_comma_is_shown_unambiguously(sweep: tuple[Path, dict[str, str]]) -> None:
    root, ids = sweep
    assert '"lr=0.3,seed=1"' in ok(root, "runs", "--columns", "name,tags")
    assert 'tags:     "lr=0.3,seed=1"' in ok(root, "show", ids["a"])
    out = ok(root, "tag", ids["b"], "a,b", "c")
    assert 'tagged' in out and '"a,b", c' in out and '(tags now: "a,b", c)' in out, out
    assert '"a,b", c' in ok(root, "untag", ids["b"], "a,b", "c")


def test_since_reads_dates_as_git_does(sweep: tuple[Path, dict[str, str]]) -> None:
    root, _ = sweep
    assert len(json.loads(ok(root, "runs", "--since", "yesterday", "--json"))["items"]) == 3
    assert len(json.loads(ok(root, "runs", "--since", "2.weeks.ago", "--json"))["items"]) == 3
    assert json.loads(ok(root, "runs", "--until", "2.weeks.ago", "--json"))["items"] == []
    assert "--since 'soonish' is not a date" in fails(root, "runs", "--since", "soonish")
    assert "--until '2024-13-45' is not a date" in fails(root, "runs", "--until", "2024-13-45")


def test_show_gives_full_times_durations_and_config_as_written(sweep: tuple[Path, dict[str, str]]) -> None:
    root, ids = sweep
    out = ok(root, "show", ids["a"])
    assert "  lr = 0.3\n" in out and "  steps = 10000000000\n" in out and "  wd = 1.0\n" in out
    started = next(line for line in out.splitlines() if line.startswith("  started:"))
    assert started.endswith(" UTC") and len(started.split()[2]) == 8  # HH:MM:SS
    assert "(took " in next(line for line in out.splitlines() if line.startswith("  ended:"))


# -- stars only for a known direction ----------------------------------------------------------------


def test_compare_diff_and_log_star_only_known_directions(sweep: tuple[Path, dict[str, str]]) -> None:
    root, ids = sweep
    data = json.loads(ok(root, "compare", ids["a"], ids["b"], ids["c"], "--json"))
    directions = {n: m["direction"] for n, m in data["metrics"].items()}
    assert directions == {"epochs": "unknown", "latency_ms": "min", "lr_used": "unknown", "tokens": "unknown",
                          "val/acc": "max", "val/loss": "min"}
    table = ok(root, "compare", ids["a"], ids["b"], ids["c"])
    rows = {line.split()[0]: line for line in table.splitlines() if line.split()}
    for name in ("epochs", "lr_used", "tokens"):
        assert "*" not in rows[name], rows[name]
    assert "0.95*" in rows["val/acc"] and "0.3*" in rows["val/loss"] and "20*" in rows["latency_ms"]
    assert "Infinity" in rows["val/loss"] and "Infinity*" not in rows["val/loss"]
    diff = ok(root, "diff", ids["a"], ids["b"])
    assert "a is better" not in next(line for line in diff.splitlines() if "epochs" in line)
    assert "b is better" in next(line for line in diff.splitlines() if "val/acc" in line)
    log = json.loads(ok(root, "log", "--json"))
    runs = [r for c in log for r in c["runs"]]
    best = {n for r in runs for n in r["best"]}
    assert best == {"val/acc", "val/loss", "latency_ms"}


def test_a_tie_stars_every_best_run_and_diff_names_a_missing_side(tmp_path: Path) -> None:
    """Review of issue 16: two runs with the same best value got one star between them in
    `compare`, and `diff` printed a metric one run lacks as `3 -> ` with nothing after the arrow."""
    from gitvault import Store

    root = make_repo(tmp_path / "tie", "init")
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    ids = []
    for acc, extra in ((0.9, {"loss": 3}), (0.9, {}), (0.8, {})):
        with exp.run(config={"opt": None if extra else "adam"}) as run:
            run.log(**{"val/acc": acc, **extra})
            ids.append(run.id)
    table = ok(root, "compare", *ids).split("metrics (* = best)")[1]
    row = next(line.split() for line in table.splitlines() if line.startswith("val/acc"))
    assert row == ["val/acc", "max", "0.9*", "0.9*", "0.8", "A,B"], row
    data = json.loads(ok(root, "compare", *ids, "--json"))
    assert data["metrics"]["val/acc"]["ranking"][:2] == sorted(ids[:2])
    log = json.loads(ok(root, "log", "--json"))
    best = {r["id"]: r["best"] for c in log for r in c["runs"]}
    assert best[ids[0]] == ["loss", "val/acc"] and best[ids[1]] == ["val/acc"] and best[ids[2]] == []
    assert ok(root, "log", "--color=always").count("\x1b[1;32mval/acc=0.9") == 2  # both shown as best
    diff = ok(root, "diff", ids[0], ids[1]).splitlines()
    assert "  loss (min): 3 -> (none)" in diff, diff
    assert "  ~ opt: null -> 'adam'" in diff, diff
    assert "  loss (min): (none) -> 3" in ok(root, "diff", ids[1], ids[0]).splitlines()
    assert "  val/acc (max): 0.9 -> 0.9  0  (equal)" in diff, diff


def test_pull_counts_the_missing_blobs_it_does_not_list(tmp_path: Path) -> None:
    """Review of issue 16: `git vault pull` said "7 blob(s) ... missing" and listed five, cut
    without a word; the rest are counted now."""
    from gitvault import Store

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a = make_repo(tmp_path / "a", "init")
    git(a, "remote", "add", "origin", str(remote))
    with Store(a).experiment({"benchmark": "b"}).run() as run:
        for i in range(7):
            (tmp_path / f"{i}.pt").write_bytes(f"weights {i}".encode())
            run.register_model(f"net{i}", tmp_path / f"{i}.pt")
        shards = tmp_path / "shards"
        shards.mkdir()
        for i in range(5):
            (shards / f"{i}.bin").write_bytes(f"shard {i}".encode())
        run.register_model("sharded", shards)
    ok(a, "push", "--records-only")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    proc = vault_run(b, "pull")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    line = next(line for line in proc.stderr.splitlines() if "on neither this machine nor the remote" in line)
    count = int(line.split("git vault: error: ")[1].split()[0])
    assert count >= 7 and f" (and {count - 5} more); ask whoever created them" in line, line
    assert line.split(": ", 2)[2].split(" (and")[0].count(", ") == 4, line
    # fetching a model's files names three and counts the rest
    fetch = fails(b, "models", "get", "sharded@1", "--out", str(tmp_path / "out"))
    assert " (and 2 more) could not be fetched from origin (0 damaged, 5 not there)" in fetch, fetch
    assert not any((tmp_path / "out").rglob("*"))  # fetched before any file is written: no half model


def test_config_sets_directions_each_change_a_vault_commit(tmp_path: Path) -> None:
    from gitvault import Store

    root = make_repo(tmp_path / "cfg", "init")
    exp = Store(root).experiment({"benchmark": "b", "model": "m"})
    ids = []
    for value in (1.0, 2.0):
        with exp.run() as run:
            run.log(lr_used=value)
            ids.append(run.id)
    assert "*" not in ok(root, "compare", *ids).split("metrics (* = best)")[1]
    tip = git(root, "rev-parse", "refs/vault/main").stdout
    out = ok(root, "config", "add", "metrics.minimize", "lr_used", "val/loss")
    assert 'metrics.minimize = ["lr_used", "val/loss"]' in out and "vault commit" in out
    assert git(root, "rev-list", "--count", f"{tip.strip()}..refs/vault/main").stdout.strip() == "1"
    assert git(root, "log", "-1", "--format=%s", "refs/vault/main").stdout.strip() == \
        "config: add metrics.minimize lr_used val/loss"
    assert ok(root, "config", "get", "metrics.minimize").split() == ["lr_used", "val/loss"]
    compare = ok(root, "compare", *ids)
    assert "1.0*" in compare or "1*" in compare
    assert "unchanged" in ok(root, "config", "add", "metrics.minimize", "lr_used")
    assert "lr_used would be in both" in fails(root, "config", "add", "metrics.maximize", "lr_used")
    assert "unknown key 'metric.minimize'" in fails(root, "config", "get", "metric.minimize")
    assert "does not hold 'nope'" in fails(root, "config", "remove", "metrics.minimize", "nope")
    assert "holds one text value" in fails(root, "config", "add", "store.hierarchy", "x")
    assert "contains a path separator" not in ok(root, "config", "remove", "metrics.minimize", "val/loss")
    ok(root, "config", "set", "taxonomy.methods.distillation", "Training a small model on a large one")
    ok(root, "config", "add", "taxonomy.domains.training.methods", "distillation")
    assert "distillation" in ok(root, "config", "get", "taxonomy.domains.training.methods").split()
    listed = json.loads(ok(root, "config", "list", "--json"))
    assert listed["metrics.minimize"] == ["lr_used"] and listed["store.hierarchy"] == "benchmark > model > variant"
    assert vault_run(root, "config", "get", "taxonomy.methods.nothing").returncode == 1  # not set, as git config
    assert "must keep 3 levels" in fails(root, "config", "set", "store.hierarchy", "a > b")
    assert "has an empty level" in fails(root, "config", "set", "store.hierarchy", "a >> b")
    ok(root, "config", "set", "store.hierarchy", "bench > net > variant")
    assert ok(root, "config", "get", "store.hierarchy").strip() == "bench > net > variant"
    assert "run `git vault init`" in fails(make_repo(tmp_path / "bare"), "config", "list")


# -- the front door ----------------------------------------------------------------------------------


def test_version_and_help() -> None:
    proc = subprocess.run(["git", "vault", "--version"], capture_output=True, text=True)
    from gitvault import __version__

    assert proc.returncode == 0 and proc.stdout.strip() == f"git vault {__version__}"


def test_the_man_page_lists_every_command_and_man_finds_it() -> None:
    """`git vault --help` is git's `man git-vault`: the page (made by `make man` from the parser)
    names every command, and `man` finds it from PATH once installed (a wheel puts it in
    <prefix>/share/man/man1; `make` copies it there for the editable install)."""
    from gitvault.cli import manpage

    page = manpage.PAGE.read_text(encoding="utf-8")
    assert page.startswith(".TH GIT-VAULT 1")
    names = manpage.commands().parsers
    assert {"runs", "config", "show", "log", "push", "pull"} <= set(names)
    in_troff = {c: "\\fBgit vault " + c.replace("-", "\\-") for c in names}  # troff spells - as \-
    missing = [c for c in names if c != "hook" and in_troff[c] not in page]
    assert not missing, f"run `make man`: the man page lacks {missing}"
    assert manpage.render().startswith(".TH GIT-VAULT 1")
    installed = Path(sys.prefix) / "share" / "man" / "man1" / "git-vault.1"
    assert installed.exists(), "make installs man/man1/git-vault.1 into the venv"
    import shutil

    if shutil.which("man"):
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"}
        env.pop("MANPATH", None)
        found = subprocess.run(["man", "-w", "git-vault"], capture_output=True, text=True, env=env)
        assert found.returncode == 0 and found.stdout.strip() == str(installed), found
        shown = subprocess.run(["git", "vault", "--help"], capture_output=True, text=True,
                               env={**env, "MANPAGER": "cat", "PAGER": "cat"})
        assert "No manual entry" not in shown.stderr and "git vault runs" in shown.stdout.replace("\u2010", "-")


def test_make_demo_ends_with_a_command_that_works_as_printed() -> None:
    makefile = Path(__file__).resolve().parent.parent / "Makefile"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # also under `make test`
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-f", str(makefile), "demo", "STAMP=/dev/null"],
                         capture_output=True, text=True, cwd=makefile.parent, env=env)
    if dry.returncode != 0:
        pytest.skip(f"make is not usable here: {dry.stderr.strip()}")
    echoed = subprocess.run(["sh", "-c", dry.stdout.strip().splitlines()[-1]], capture_output=True, text=True)
    line = echoed.stdout.strip()
    assert line.startswith("export PATH=") and str(Path(sys.executable).parent) in line, line


def test_a_fresh_clone_of_a_repo_with_a_vault_is_told_to_pull(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", "init")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    for command in (("runs",), ("show", "abc"), ("config", "list")):
        line = fails(clone, *command)
        assert "origin has one: run `git vault pull`" in line and "separate, empty vault" in line, line
    vault_cmd(clone, "pull", check=True)
    assert vault_run(clone, "runs").returncode == 0
    lonely = make_repo(tmp_path / "lonely")
    assert "git vault init" in fails(lonely, "runs")


# -- the pager ---------------------------------------------------------------------------------------


def _on_a_terminal(root: Path, *args: str, env: dict[str, str]) -> str:
    """`git vault ARGS` with stdout on a pseudo-terminal; what the terminal shows."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(["git", "vault", *args], cwd=root, stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env={**os.environ, **env})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_runs_pages_on_a_terminal_only(sweep: tuple[Path, dict[str, str]]) -> None:
    root, _ = sweep
    env = {"GIT_PAGER": "sed 's/^/PAGED: /'"}
    assert "PAGED: ID" in _on_a_terminal(root, "runs", env=env)
    assert "PAGED" not in _on_a_terminal(root, "runs", "--no-pager", env=env)
    assert "PAGED" not in _on_a_terminal(root, "--no-pager", "runs", env=env)
    assert "PAGED" not in _on_a_terminal(root, "runs", "--json", env=env)
    piped = subprocess.run(["git", "vault", "runs"], cwd=root, capture_output=True, text=True,
                           env={**os.environ, **env})
    assert piped.stdout.startswith("ID") and "PAGED" not in piped.stdout  # never off a terminal
    log = _on_a_terminal(root, "log", "-n", "1", env=env)
    assert log.startswith("PAGED: \x1b[33mcommit ") and "tokens=123456789" in log  # colour kept in the pager
    assert "PAGED" not in _on_a_terminal(root, "log", "-n", "1", "--no-pager", env=env)


# -- progress: a bar on a terminal, plain lines elsewhere ------------------------------------------------


class _Tty:
    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_bar_only_on_a_terminal_outside_notebooks_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import types

    from gitvault.cli import progress
    from gitvault.cli.cmd_sync import console_stage

    tty = _Tty()
    monkeypatch.setattr(sys, "stdout", _Tty())
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    assert progress.bar_wanted(tty)
    assert not progress.bar_wanted(tty, json=True)
    assert not progress.bar_wanted(io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.bar_wanted(tty)
    monkeypatch.delenv("TERM")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not progress.bar_wanted(tty)
    with progress.Progress("git vault reindex", labels={"sqlite": "writing extract.db"}, stream=tty) as bar:
        bar.update("sqlite", 1, 2)
        bar.update("sqlite", 2, 2)
    assert tty.text == "  writing extract.db: done (2)\n"  # plain lines in a notebook
    monkeypatch.delitem(sys.modules, "ipykernel")
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    with console_stage("pushing blobs", 3, json=True) as advance:
        advance(3)
    assert err.text == "pushing blobs: 3 blob(s)\n"


# -- the README keeps true ---------------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_block(section: str, language: str, index: int = -1) -> str:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1].split("\n```", 1)[0] for b in body.split(f"```{language}\n")[1:]
              for b in [f"\n{b}"]]
    return blocks[index]


def test_readme_gitvault_loop_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gitvault column of "Coming from W&B / MLflow", executed as written in a fresh repository."""
    root = make_repo(tmp_path / "mnist", "init")
    (root / "model.pt").write_bytes(b"weights")
    monkeypatch.chdir(root)
    code = _readme_block("Coming from W&B / MLflow", "python", 2)  # after the W&B and MLflow columns
    assert code.startswith("from gitvault import Store")
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    frame = namespace["frame"]
    assert frame.height == 1 and frame["metrics.val/acc"].to_list() == [pytest.approx(0.94)]
    namespace["store"].close()
    models = json.loads(ok(root, "models", "--json"))["items"]
    assert [(m["name"], m["version"]) for m in models] == [("mnist-mlp", "1")]
    assert {"best", "production"} <= set(models[0]["aliases"])
    table = ok(root, "runs", "--columns", "name,val/acc,config.lr", "--sort", "-val/acc")
    assert table.splitlines()[1].split() == ["mlp-lr0.1", "0.94", "0.1"]


def test_readme_recipe_hides_vault_refs_and_notes_from_git_log_all(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    recipe = text.split("hide them, and the notes that link runs to commits,\nwith `", 1)[1].split("`", 1)[0]
    assert recipe.startswith("git log --exclude=")
    root = make_repo(tmp_path / "hide", "demo")
    git(root, "notes", "--ref=vault", "add", "-m", "run 01ABC", "HEAD")
    git(root, "update-ref", "refs/vault-remotes/origin/main", "refs/vault/main")
    everything = git(root, "log", "--all", "--format=%H").stdout.split()
    branch = git(root, "log", "--branches", "--format=%H").stdout.split()
    assert len(everything) > len(branch)
    import shlex

    shown = git(root, *shlex.split(recipe)[1:], "--format=%H").stdout.split()
    assert shown == branch


def test_runs_shows_a_running_runs_progress_and_compare_counts_every_point(tmp_path: Path) -> None:
    from gitvault import Store

    root = make_repo(tmp_path / "live", "init")
    store = Store(root)
    exp = store.experiment({"benchmark": "b", "model": "m"})
    with exp.run(name="long", config={"lr": 0.1 * 3}) as done:
        for step in range(2_500):
            done.curve(step, **{"train/loss": 1.0 / (step + 1)})
    other_id = done.id
    run = exp.run(name="going", config={"lr": 0.1}, total_steps=1_000)
    try:
        for step in range(121):
            run.curve(step, **{"train/loss": 1.0 / (step + 1)})
        run.flush()  # what the flusher thread does about once a second
        line = next(l for l in ok(root, "runs").splitlines() if "going" in l)
        import re

        assert re.search(r"running \(flushed \d+ s ago\)", line), line
        line = next(l for l in ok(root, "runs", "--progress").splitlines() if "going" in l)
        assert "running step 120/1000" in line, line
        shown = ok(root, "show", run.id)
        assert "  ended:    -   (running for " in shown and "curves (121 points, last step 120 of 1000)" in shown
        curves = ok(root, "compare", other_id, run.id, "--curves").split("curves (last value / points)")[1]
        row = next(l for l in curves.splitlines() if l.startswith("train/loss"))
        assert "/ 2500" in row and "/ 121" in row, row  # every point counted, not the 1,000 of a chart
        diff = ok(root, "diff", other_id, run.id)
        assert "  ~ lr: 0.3 -> 0.1" in diff, diff
    finally:
        run.finish()
    store.close()


def test_nan_and_infinities_are_spelled_alike_in_every_sql_format(sweep: tuple[Path, dict[str, str]]) -> None:
    root, _ = sweep
    query = "SELECT 'inf'::DOUBLE AS a, '-inf'::DOUBLE AS b, 'nan'::DOUBLE AS c, 1.5::DOUBLE AS d"
    assert ok(root, "sql", query, "--format", "csv").splitlines()[1] == "Infinity,-Infinity,NaN,1.5"
    assert ok(root, "sql", query).splitlines()[1].split() == ["Infinity", "-Infinity", "NaN", "1.5"]
    assert json.loads(ok(root, "sql", query, "--json")) == [{"a": "Infinity", "b": "-Infinity", "c": "NaN", "d": 1.5}]
