"""Installing gitvault's git hooks without breaking anyone else's.

- The hooks folder is what ``git rev-parse --git-path hooks`` says, so ``core.hooksPath`` and
  worktrees are respected.
- Each hook is a small POSIX-sh shim (`shim_text`, the same files as ``.githooks/`` in gitvault's
  source) carrying the marker line ``# gitvault-hook v1``. A hook that is already there and is not
  ours is renamed ``<hook>.pre-gitvault`` and the shim runs it first, with the same arguments and
  stdin, and exits with its status; then it starts ``git-vault hook <hook>`` (in the background for
  post-commit and post-rewrite, so a commit never waits; skipped when git-vault is not on PATH or
  ``GITVAULT_NO_HOOKS`` is set; `gitvault.gitlink.linking` catches such commits up later).
- Installing twice changes nothing (a shim of an older version is upgraded in place). Uninstall
  removes only an unmodified shim of ours and renames ``<hook>.pre-gitvault`` back, so the folder
  holds exactly what it held before (bytes, mode, symlinks). A shim edited by hand is left alone
  and the manual steps are printed.
- A folder a hook manager regenerates (husky's ``.husky/_``) or a hook file it generated
  (pre-commit, lefthook) is never edited: the line to add to that tool's config is returned
  instead.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitvault.errors import NotARepositoryError

MARKER = "# gitvault-hook v1"
MARKER_PREFIX = "# gitvault-hook v"
CHAIN_SUFFIX = ".pre-gitvault"
BASE_HOOKS = ("post-commit", "post-rewrite")
PUSH_HOOK = "pre-push"
ALL_HOOKS = BASE_HOOKS + (PUSH_HOOK,)

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


def shim_text(name: str) -> str:
    """The shim installed as hook ``name``."""
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
        f'chained="$(dirname "$0")/$hook{CHAIN_SUFFIX}"',
        "status=0",
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
    guard = 'if [ -z "${GITVAULT_NO_HOOKS:-}" ] && command -v git-vault >/dev/null 2>&1; then'
    if reads_stdin:
        guard = guard.replace("if ", 'if [ -n "$input" ] && ', 1)
    if name == "pre-push":
        lines += [
            guard.replace("; then", ' && [ "$status" = 0 ]; then'),
            '    git-vault hook "$hook" "$@" <"$input" || true',
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
                '    (git-vault hook "$hook" "$@" <"$input"; rm -f "$input") >>"$log" 2>&1 &',
                "else",
                '    rm -f "$input"',
            ]
        else:
            lines += ['    git-vault hook "$hook" "$@" </dev/null >>"$log" 2>&1 &']
        lines += ["fi"]
    lines += ['exit "$status"', ""]
    return "\n".join(lines)


@dataclass
class HookState:
    """One hook's state: ``action`` is what install/uninstall did (or, for status, what is there)."""

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
    tmp.write_text(shim_text(name))
    tmp.chmod(0o755)
    os.replace(tmp, path)


def install(start: Path | str | None = None, *, push: bool = False) -> list[HookState]:
    """Install (or upgrade) the shims; idempotent. Returns what happened to each hook."""
    folder = hooks_dir(start)
    names = BASE_HOOKS + ((PUSH_HOOK,) if push else ())
    managed = framework_of_dir(folder)
    if managed:
        return [HookState(n, folder / n, "skipped", snippet_advice(n, managed)) for n in names]
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
            if path.read_text() == shim_text(name):
                out.append(HookState(name, path, "unchanged", "already installed"))
            else:
                _write_shim(path, name)
                out.append(HookState(name, path, "upgraded"))
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
        if path.read_text() != shim_text(name):
            out.append(HookState(name, path, "left alone",
                                 f"the gitvault shim was edited; remove the gitvault lines from {path} by hand"
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
            current = path.read_text() == shim_text(name)
            detail = f"chains {chained.name}" if chained.exists() else ""
            out.append(HookState(name, path, "installed" if current else "installed (modified or older shim)", detail))
        else:
            tool = framework_of_file(path)
            out.append(HookState(name, path, f"managed by {tool}" if tool else "another hook (gitvault not installed)"))
    return folder, out

