"""Installing gitvault's git hooks without breaking anyone else's.

- The hooks folder is what ``git rev-parse --git-path hooks`` says, so ``core.hooksPath`` and
  worktrees are respected.
- Each hook is a small POSIX-sh shim (`shim_text`, the same files as ``.githooks/`` in gitvault's
  source) carrying the marker line ``# gitvault-hook v2``. A hook that is already there and is not
  ours is renamed ``<hook>.pre-gitvault`` and the shim runs it first, with the same arguments and
  stdin, and exits with its status; then it starts ``<python> -m gitvault.hooks <hook>`` with the
  interpreter recorded at install time, or ``git-vault hook <hook>`` from PATH when that interpreter
  is gone or cannot import gitvault (in the background for post-commit and post-rewrite, so a commit
  never waits; skipped when ``GITVAULT_NO_HOOKS`` is set; when neither can start, a line says so in
  ``.extract/hooks.log`` and `git vault hooks status` reports it; `gitvault.gitlink.linking` catches
  such commits up later).
- Installing twice changes nothing (a shim of an older version is upgraded in place). Uninstall
  removes only an unmodified shim of ours and renames ``<hook>.pre-gitvault`` back, so the folder
  holds exactly what it held before (bytes, mode, symlinks). A shim edited by hand is left alone
  and the manual steps are printed.
- A folder a hook manager regenerates (husky's ``.husky/_``) or a hook file it generated
  (pre-commit, lefthook) is never edited: the line to add to that tool's config is returned
  instead.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from gitvault.errors import NotARepositoryError
from gitvault.gitlink import ALL_HOOKS, BASE_HOOKS, PUSH_HOOK

MARKER = "# gitvault-hook v2"
MARKER_PREFIX = "# gitvault-hook v"
CHAIN_SUFFIX = ".pre-gitvault"
_EMPTY = "''"

_PURPOSE = {
    "post-commit": "links runs to the commit that holds their code",
    "post-rewrite": "moves run links from amended/rebased commits to their rewrites",
    "pre-push": "pushes the vault and its blobs to the remote the code goes to",
}

SNIPPETS = {
    "post-commit": "command -v git-vault >/dev/null 2>&1 && (git-vault hook post-commit </dev/null >/dev/null 2>&1 &)",
    "post-rewrite": 'command -v git-vault >/dev/null 2>&1 && git-vault hook post-rewrite "$@" >/dev/null 2>&1; true',
    "pre-push": 'command -v git-vault >/dev/null 2>&1 && git-vault hook pre-push "$@"; true',
}


def shim_text(name: str, python: str = "") -> str:
    """The shim installed as hook ``name``. ``python``: the interpreter `git vault hooks install`
    ran under (``sys.executable``), recorded so the hook runs from an IDE or a shell without the
    project's environment on PATH; the shim falls back to ``git-vault`` on PATH when that
    interpreter is gone or cannot import gitvault, and says so (in ``.extract/hooks.log`` for
    the background hooks) when neither can start. ``""`` (the files in ``.githooks/``): PATH only."""
    if name not in ALL_HOOKS:
        raise ValueError(f"gitvault has no {name!r} hook; hooks: {', '.join(ALL_HOOKS)}")
    reads_stdin = name in ("post-rewrite", "pre-push")
    lines = [
        "#!/bin/sh",
        MARKER,
        f"# {name}: {_PURPOSE[name]}.",
        "# Installed by `git vault hooks install`; `git vault hooks uninstall` removes it and puts back",
        f"# the hook that was here before (kept beside it as {name}{CHAIN_SUFFIX}), which runs first.",
        f"hook={name}",
        f"python={shlex.quote(python) if python else _EMPTY}  # the interpreter gitvault was installed with",
        f'chained="$(dirname "$0")/$hook{CHAIN_SUFFIX}"',
        "status=0",
        "gitvault() {  # exit status 1 from python: it could not import gitvault",
        '    if [ -n "$python" ] && [ -x "$python" ]; then',
        '        "$python" -m gitvault.hooks "$@"',
        '        [ "$?" != 1 ] && return 0',
        "    fi",
        '    if command -v git-vault >/dev/null 2>&1; then git-vault hook "$@"; return 0; fi',
        '    echo "gitvault: the $hook hook cannot start: ${python:-no interpreter recorded} cannot run gitvault and'
        ' git-vault is not on PATH; run \\`git vault hooks install\\` again in the project environment" >&2',
        "}",
    ]
    if reads_stdin:
        lines += [
            'if input=$(mktemp "${TMPDIR:-/tmp}/gitvault-$hook.XXXXXX"); then cat >"$input"; else input=; fi',
            'if [ -x "$chained" ]; then',
            '    if [ -n "$input" ]; then "$chained" "$@" <"$input" || status=$?; else "$chained" "$@" || status=$?; fi',
            "fi",
        ]
    else:
        lines += [
            'if [ -x "$chained" ]; then',
            '    "$chained" "$@" || status=$?',
            "fi",
        ]
    guard = 'if [ -z "${GITVAULT_NO_HOOKS:-}" ]; then'
    if reads_stdin:
        guard = guard.replace("if ", 'if [ -n "$input" ] && ', 1)
    if name == "pre-push":
        lines += [
            guard.replace("; then", ' && [ "$status" = 0 ]; then'),
            '    gitvault "$hook" "$@" <"$input" || true',
            "fi",
            'rm -f "$input"',
        ]
    else:
        lines += [
            guard,
            "    log=/dev/null",
            '    [ -d .extract ] && log=.extract/hooks.log',
        ]
        if reads_stdin:
            lines += [
                '    (gitvault "$hook" "$@" <"$input"; rm -f "$input") >>"$log" 2>&1 &',
                "else",
                '    rm -f "$input"',
            ]
        else:
            lines += ['    gitvault "$hook" "$@" </dev/null >>"$log" 2>&1 &']
        lines += ["fi"]
    lines += ['exit "$status"', ""]
    return "\n".join(lines)


def recorded_python(text: str) -> str:
    """The interpreter a shim's ``python=`` line names ("" for none, or a shim without the line)."""
    for line in text.splitlines():
        if line.startswith("python="):
            value = line[len("python="):].split("  #", 1)[0].strip()
            try:
                words = shlex.split(value)
            except ValueError:
                return ""
            return words[0] if words else ""
    return ""


def start_problem(text: str) -> str | None:
    """Why an installed shim cannot start gitvault, in one line, or None: its recorded interpreter
    is gone or cannot import gitvault and ``git-vault`` is not on PATH (as this process sees it;
    an IDE may give git another PATH)."""
    python = recorded_python(text)
    on_path = shutil.which("git-vault")
    if python:
        if not os.access(python, os.X_OK):
            why = f"its interpreter {python} is gone"
        else:
            failure = _import_failure(python)
            if failure is None:
                return None
            why = f"its interpreter {python} cannot import gitvault ({failure})"
        if on_path:
            return f"{why}; it falls back to {on_path} on PATH, which an IDE may not have"
    elif on_path:
        return None if MARKER in text else (f"an older shim that needs git-vault on PATH (an IDE may not have it; "
                                            f"found here: {on_path})")
    else:
        why = "no interpreter recorded"
    return f"{why}, and git-vault is not on PATH: commits are not linked"


@functools.lru_cache(maxsize=8)
def _import_failure(python: str) -> str | None:
    """None when ``python`` imports gitvault's hooks, else the last line of its error (asked once
    per interpreter and process: `status` checks three shims)."""
    try:
        proc = subprocess.run([python, "-c", "import gitvault.hooks"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["it exits with an error"])[-1]


class HookState(NamedTuple):
    """One hook's state: ``action`` is what install/uninstall did (or, for status, what is there).
    (A NamedTuple, not a dataclass: `git vault -h` imports this module, and ``dataclasses`` costs it 7 ms.)"""

    name: str
    path: Path
    action: str
    detail: str = ""


def hooks_dir(start: Path | str | None = None) -> Path:
    """The folder git runs hooks from (``core.hooksPath`` respected), as an absolute path."""
    cwd = Path(start) if start is not None else Path.cwd()
    if cwd.is_file():
        cwd = cwd.parent
    proc = subprocess.run(["git", "rev-parse", "--git-path", "hooks"], cwd=cwd, text=True, capture_output=True)
    if proc.returncode != 0:
        raise NotARepositoryError(f"{cwd} is not inside a git repository ({proc.stderr.strip()}); "
                                  "run `git init` there first")
    path = Path(proc.stdout.strip())
    return (path if path.is_absolute() else cwd / path).resolve()


def framework_of_dir(folder: Path) -> str | None:
    """The hook manager that regenerates this whole folder, if any."""
    parts = folder.parts
    if len(parts) >= 2 and parts[-2:] == (".husky", "_"):
        return "husky"
    if (folder / "husky.sh").exists() or (folder / "_" / "husky.sh").exists():
        return "husky"
    return None


def framework_of_file(path: Path) -> str | None:
    """The hook manager that generated this hook file, if any."""
    try:
        head = path.read_bytes()[:4096].decode("utf-8", "replace")
    except OSError:
        return None
    if "File generated by pre-commit" in head:
        return "pre-commit"
    if "lefthook" in head.lower():
        return "lefthook"
    if "husky" in head.lower():
        return "husky"
    return None


def snippet_advice(name: str, framework: str) -> str:
    where = {
        "husky": f"add this line to .husky/{name}",
        "pre-commit": f"add a local hook with `stages: [{name}]` to .pre-commit-config.yaml running",
        "lefthook": f"add to lefthook.yml under `{name}: commands: gitvault: run:`",
    }.get(framework, f"add this line to the {name} hook your tool generates")
    return f"managed by {framework}, not edited; {where}: {SNIPPETS[name]}"


def _is_ours(path: Path) -> bool:
    if path.is_symlink():  # ours are plain files; a link (even to one of ours) is the user's
        return False
    try:
        return MARKER_PREFIX.encode() in path.read_bytes()[:512]
    except OSError:
        return False


def _write_shim(path: Path, name: str) -> None:
    tmp = path.with_name(f".{name}.gitvault-tmp")
    tmp.write_text(shim_text(name, sys.executable))
    tmp.chmod(0o755)
    os.replace(tmp, path)


def in_work_tree(folder: Path, start: Path | str | None = None) -> bool:
    """True when the hooks folder (``core.hooksPath``) lies in the work tree, outside the git
    dir: a folder the team shares through the repository (husky's, a ``.githooks`` of the code)."""
    cwd = Path(start) if start is not None else Path.cwd()
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel", "--absolute-git-dir"], cwd=cwd if cwd.is_dir()
                          else cwd.parent, text=True, capture_output=True)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        return False
    top, git_dir = Path(lines[0]).resolve(), Path(lines[1]).resolve()
    return folder.is_relative_to(top) and not folder.is_relative_to(git_dir)


def work_tree_advice(folder: Path, name: str) -> str:
    """What to add to a hook in a folder of the work tree, which gitvault does not write unasked."""
    return (f"{folder} is in your work tree (core.hooksPath), shared with everyone who clones it: nothing "
            f"written there; add this line to {folder / name}: {SNIPPETS[name]} (git-vault must be on PATH "
            f"when git runs it; or write gitvault's own shims there: `git vault hooks install --in-work-tree`)")


def install(start: Path | str | None = None, *, push: bool = False, in_work_tree_ok: bool = False) -> list[HookState]:
    """Install (or upgrade) the shims, recording this interpreter in them; idempotent. A hooks
    folder in the work tree is written only with ``in_work_tree_ok``: otherwise each hook is
    skipped with the line to add. Returns what happened to each hook."""
    folder = hooks_dir(start)
    names = BASE_HOOKS + ((PUSH_HOOK,) if push else ())
    managed = framework_of_dir(folder)
    if managed:
        return [HookState(n, folder / n, "skipped", snippet_advice(n, managed)) for n in names]
    if not in_work_tree_ok and in_work_tree(folder, start):
        return [HookState(n, folder / n, "skipped", work_tree_advice(folder, n)) for n in names]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        path = folder / name
        chained = folder / f"{name}{CHAIN_SUFFIX}"
        if not path.exists() and not path.is_symlink():
            _write_shim(path, name)
            detail = f"chains {chained.name}" if chained.exists() else ""
            out.append(HookState(name, path, "installed", detail))
        elif _is_ours(path):
            text = path.read_text()
            if text == shim_text(name, sys.executable):
                out.append(HookState(name, path, "unchanged", "already installed"))
            else:
                was = recorded_python(text)
                _write_shim(path, name)
                moved = f"runs {sys.executable}" + (f", was {was}" if was and was != sys.executable else "")
                out.append(HookState(name, path, "upgraded", moved))
        elif framework_of_file(path):
            out.append(HookState(name, path, "skipped", snippet_advice(name, framework_of_file(path) or "")))
        elif chained.exists() or chained.is_symlink():
            out.append(HookState(name, path, "skipped",
                                 f"{path.name} is not gitvault's and {chained.name} exists too; merge them by "
                                 f"hand, or add this line to {path}: {SNIPPETS[name]}"))
        else:
            os.rename(path, chained)
            _write_shim(path, name)
            out.append(HookState(name, path, "installed", f"your existing hook now runs first as {chained.name}"))
    return out


def uninstall(start: Path | str | None = None) -> list[HookState]:
    """Remove unmodified shims and put back the hooks they chained."""
    folder = hooks_dir(start)
    out = []
    for name in ALL_HOOKS:
        path = folder / name
        chained = folder / f"{name}{CHAIN_SUFFIX}"
        if not path.exists() and not path.is_symlink():
            if chained.exists() or chained.is_symlink():
                os.rename(chained, path)
                out.append(HookState(name, path, "restored", f"{chained.name} put back"))
            continue
        if not _is_ours(path):
            continue
        text = path.read_text()
        if text != shim_text(name, recorded_python(text)):
            older = MARKER not in text
            why = ("an older gitvault shim: run `git vault hooks install` to upgrade it, then uninstall; or remove it"
                   if older else "the gitvault shim was edited; remove the gitvault lines from it")
            out.append(HookState(name, path, "left alone", f"{why} ({path}) by hand"
                                 + (f" and rename {chained.name} back to {name}" if chained.exists() else "")))
            continue
        path.unlink()
        if chained.exists() or chained.is_symlink():
            os.rename(chained, path)
            out.append(HookState(name, path, "restored", "your previous hook is back"))
        else:
            out.append(HookState(name, path, "removed"))
    return out


def status(start: Path | str | None = None) -> tuple[Path, list[HookState]]:
    """Each hook's state; a shim of ours that cannot start gitvault is "installed but cannot start",
    with why (`start_problem`)."""
    folder = hooks_dir(start)
    managed = framework_of_dir(folder)
    out = []
    for name in ALL_HOOKS:
        path = folder / name
        chained = folder / f"{name}{CHAIN_SUFFIX}"
        if managed:
            out.append(HookState(name, path, f"managed by {managed}", SNIPPETS[name]))
        elif not path.exists():
            out.append(HookState(name, path, "not installed"))
        elif _is_ours(path):
            text = path.read_text()
            current = text == shim_text(name, recorded_python(text))
            details = [f"chains {chained.name}"] if chained.exists() else []
            problem = start_problem(text)
            if problem:
                details.append(f"{problem}; run `git vault hooks install` in the project's environment")
                action = "installed but cannot start"
            else:
                action = "installed" if current else "installed (modified or older shim)"
                if recorded_python(text):
                    details.append(f"runs {recorded_python(text)}")
            out.append(HookState(name, path, action, "; ".join(details)))
        else:
            tool = framework_of_file(path)
            out.append(HookState(name, path, f"managed by {tool}" if tool else "another hook (gitvault not installed)"))
    return folder, out

