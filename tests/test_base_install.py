"""The base package (`pip install git-vault`, no extras) does a training job's whole write path, and
every part that needs an extra says which in one line.

These tests need nothing but the base dependencies: `.ci/run` also runs this file alone in a fresh
venv holding `pip install -e .` and pytest (no DuckDB, polars, zarr, prompt_toolkit or mcp). In the
full environment the missing extras are simulated by hiding their modules (``sys.modules[name] =
None``, which makes an import fail as it does when the package is absent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import git, make_repo, vault_cmd

HEAVY = ("duckdb", "polars", "zarr", "prompt_toolkit", "mcp", "obstore")
BLOCK = "import sys\nfor _m in {mods!r}:\n    sys.modules[_m] = None\n"
SPEC = {"benchmark": "base", "model": "mlp"}


def _python(code: str, cwd: Path, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    script = (BLOCK.format(mods=hide) if hide else "") + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_logging_and_sealing_a_run_loads_no_extra(tmp_path: Path) -> None:
    """Importing gitvault, logging curves, metrics, params and a table, and sealing: none of the
    extras' packages is imported (a training job pays for none of them)."""
    repo = make_repo(tmp_path / "p", "init")
    proc = _python(f"""
        import sys
        import numpy as np
        import gitvault
        with gitvault.Store({str(repo)!r}).experiment({SPEC!r}).run(config={{"lr": 0.1}}, name="r") as run:
            for step in range(100):
                run.curve(step, loss=1.0 / (step + 1), acc=step / 100)
            run.log(acc=0.9)
            run.log(optimizer="adam")
            run.log_table("confusion", np.eye(3))
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """, repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_write_path_works_without_any_extra(tmp_path: Path) -> None:
    """Log and seal, recover a crashed run, push and pull through a bare remote, link a commit with
    the post-commit hook: all with the extras' packages absent."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "a", "init")
    git(repo, "remote", "add", "origin", str(remote))
    assert vault_cmd(repo, "hooks", "install").returncode == 0
    (repo / "train.py").write_text("print('training, v2')\n")  # run on uncommitted code: the hook links it
    proc = _python(f"""
        import gitvault
        store = gitvault.Store({str(repo)!r})
        with store.experiment({SPEC!r}).run(name="sealed") as run:
            run.curve(0, loss=1.0)
            run.log(acc=0.5)
        print(run.id)
        """, repo, HEAVY)
    assert proc.returncode == 0, proc.stderr
    sealed = proc.stdout.strip()

    # a run whose process dies is recovered as crashed
    child = subprocess.Popen([sys.executable, "-c", BLOCK.format(mods=HEAVY) + textwrap.dedent(f"""
        import sys, time
        import gitvault
        run = gitvault.Store({str(repo)!r}).experiment({SPEC!r}).run(name="doomed")
        run.curve(0, loss=2.0)
        run.flush()
        print(run.id, flush=True)
        time.sleep(60)
        """)], cwd=repo, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    doomed = child.stdout.readline().strip()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    # git vault recover, push, a commit through the hook, pull in a clone: each a fresh process
    # without the extras (the CLI as a training job's shell calls it)
    cli = BLOCK.format(mods=HEAVY) + "from gitvault.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"

    def vault(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", cli, *args], cwd=cwd, capture_output=True, text=True, timeout=120)

    recovered = vault(repo, "recover")
    assert recovered.returncode == 0, recovered.stderr
    git(repo, "commit", "-q", "-am", "v2")  # the post-commit hook links the sealed run to it
    commit = git(repo, "rev-parse", "HEAD").stdout.strip()
    pushed = vault(repo, "push")
    assert pushed.returncode == 0, pushed.stderr
    clone = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    pulled = vault(clone, "pull")
    assert pulled.returncode == 0, pulled.stderr
    proc = _python(f"""
        import json
        from gitvault.storage.records import link_id
        from gitvault.storage.vault import Vault
        snap = Vault.open({str(clone)!r}).snapshot()
        out = {{rid: snap.get("run", rid)["status"] for rid in ({sealed!r}, {doomed!r})}}
        out["link"] = snap.get("link", link_id({sealed!r}, {commit!r}))["via"]
        print(json.dumps(out))
        """, clone, HEAVY)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {sealed: "completed", doomed: "crashed", "link": "post-commit"}


def test_each_missing_extra_is_named_in_one_line(tmp_path: Path) -> None:
    """A command or SDK call whose extra is absent fails with one line naming the extra (exit 2 for
    the CLI), never an ImportError traceback."""
    repo = make_repo(tmp_path / "p", "init")
    with_run = f"""
        import gitvault
        store = gitvault.Store({str(repo)!r})
        with store.experiment({SPEC!r}).run(name="r") as run:
            run.curve(0, loss=1.0)
        """
    assert _python(with_run, repo).returncode == 0
    cli = "from gitvault.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"
    for command, extra in ((["runs"], "query"), (["show", "r"], "query"), (["sql", "SELECT 1"], "query"),
                           (["mcp"], "mcp"), (["tui"], "tui")):
        proc = subprocess.run([sys.executable, "-c", BLOCK.format(mods=HEAVY) + cli, *command], cwd=repo,
                              capture_output=True, text=True, timeout=120)
        want = f'git vault {command[0]} needs the {extra} extra: pip install "git-vault[{extra}]"'
        assert (proc.returncode, proc.stderr.strip().splitlines()) == (2, [f"git vault: error: {want}"]), proc.stderr
    proc = _python(with_run + """
        from gitvault.errors import MissingExtraError
        try:
            store.list_runs()
        except MissingExtraError as exc:
            print(exc.extra, "|", exc)
        """, repo, HEAVY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'query | reading runs back (gitvault.query) needs the query extra: pip install "git-vault[query]"'


IMPORTED_AS = {"pillow": "pil", "vl_convert_python": "vl_convert", "markdown_it_py": "markdown_it"}
"""Packages imported under another name (Pillow is ``import PIL``, vl-convert-python ``vl_convert``)."""


def test_the_extras_table_matches_pyproject() -> None:
    """gitvault/extras.py and pyproject.toml name the same extras and packages."""
    import tomllib

    from gitvault import extras

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    for extra, modules in extras.EXTRAS.items():
        packages = {p.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower().replace("-", "_")
                    for p in optional[extra] if not p.startswith("git-vault[")}
        assert {m.lower() for m in modules} == {IMPORTED_AS.get(p, p) for p in packages}, extra
    base = " ".join(project["dependencies"]).lower()
    assert not any(module in base for module in HEAVY), base
    assert optional["all"] == [f"git-vault[{','.join(extras.EXTRAS)}]"]


def test_help_lists_every_command_and_marks_those_whose_extra_is_missing(tmp_path: Path) -> None:
    cli = "from gitvault.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"
    proc = subprocess.run([sys.executable, "-c", BLOCK.format(mods=HEAVY) + cli, "-h"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # argparse wraps long help lines
    for command, extra in (("runs", "query"), ("show", "query"), ("sql", "query"), ("mcp", "mcp"), ("tui", "tui")):
        assert f'{command} ' in text and f'[needs the {extra} extra: pip install "git-vault[{extra}]"]' in text
    marks = text.count("[needs the")
    from gitvault import extras

    if all(extras.available(extra) for extra in extras.EXTRAS):  # not in CI's base-only venv
        full = subprocess.run([sys.executable, "-c", cli, "-h"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert "[needs the" not in full.stdout  # everything installed here: nothing marked
    for command in ("init", "push", "pull", "recover", "hooks"):  # the base's commands, unmarked
        line = next(line for line in proc.stdout.splitlines() if line.strip().startswith(command + " "))
        assert "[needs" not in line
    assert marks >= 11


def test_tensors_without_zarr_name_the_extra(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", "init")
    proc = _python(f"""
        import numpy as np
        import gitvault
        from gitvault.errors import MissingExtraError
        with gitvault.Store({str(repo)!r}).experiment({SPEC!r}).run(name="t") as run:
            try:
                run.write_tensors("weights", np.zeros((2, 2)))
            except MissingExtraError as exc:
                print(exc)
        """, repo, HEAVY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'tensors (Zarr) needs the tensors extra: pip install "git-vault[tensors]"'


def test_s3_blobs_without_obstore_name_the_extra(tmp_path: Path) -> None:
    proc = _python("""
        from gitvault.errors import MissingExtraError
        from gitvault.sync.transports.large import open_destination
        try:
            open_destination("s3://bucket/prefix", Path("."), "vault.origin.blobs").listing()
        except MissingExtraError as exc:
            print(exc.extra, "|", exc)
        """.replace("Path(", "__import__('pathlib').Path("), tmp_path, HEAVY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 's3 | large blobs on S3 (obstore) needs the s3 extra: pip install "git-vault[s3]"'
