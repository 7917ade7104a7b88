"""The built wheel holds every package inside the gitvault namespace and imports in a fresh venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_AS = {"gitvault": "gitvault", "cli": "gitvault.cli", "tui": "gitvault.tui",
                "mcp_server": "gitvault.mcp_server", "hooks": "gitvault.hooks"}
SOURCES = ["pyproject.toml", "README.md", "man", *INSTALLED_AS]


def source_modules() -> dict[str, str]:
    """Every .py file of the five source folders -> its path inside the installed ``gitvault``."""
    found = {}
    for folder, package in INSTALLED_AS.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                rel = path.relative_to(ROOT / folder).as_posix()
                found[f"{folder}/{rel}"] = f"{package.replace('.', '/')}/{rel}"
    return found


def source_packages() -> list[str]:
    """Every package (folder with ``__init__.py``) as it is named once installed."""
    return sorted(wheel_path[: -len("/__init__.py")].replace("/", ".")
                  for wheel_path in source_modules().values() if wheel_path.endswith("/__init__.py"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the sources, so the build leaves nothing in the checkout."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
                          cwd=src, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("git_vault-*.whl")
    return built


def test_wheel_holds_every_package_under_gitvault_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert set(INSTALLED_AS.values()) <= set(source_packages())
    missing = sorted(src for src, inside in source_modules().items() if inside not in names)
    assert not missing, f"not in the wheel (add their package to pyproject's packages list): {missing}"
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"cli", "tui", "hooks", "mcp_server", "tests", "bench"}, sorted(tops)
    assert all(t == "gitvault" or t.startswith("git_vault-") for t in tops), sorted(tops)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[console_scripts]" in text and "git-vault = gitvault.cli.main:main" in text
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "Requires-Python: >=3.11" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_wheel_installs_and_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    # The dependencies (pygit2, duckdb...) come from the dev venv: a plain path entry, whose own .pth
    # files (the editable gitvault) are not processed, so gitvault can only come from the wheel.
    target_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      capture_output=True, text=True, check=True).stdout.strip())
    (target_site / "zz_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           "--no-index", str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = ("import importlib, sys\n"
              f"for name in {source_packages() + ['gitvault.cli.main']!r}:\n"
              "    module = importlib.import_module(name)\n"
              f"    assert module.__file__.startswith({str(target_site)!r}), (name, module.__file__)\n"
              "for top in ('cli', 'tui', 'hooks', 'mcp_server'):\n"
              "    assert importlib.util.find_spec(top) is None, top\n"
              "print('ok')\n")
    run = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr
    help_text = subprocess.run([str(env_dir / "bin" / "git-vault"), "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "fsck" in help_text.stdout and "init" in help_text.stdout
