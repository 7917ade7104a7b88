"""Facts captured when a run starts: the code it ran (git) and where it ran (host, python, packages).

The work tree's state is read in-process with libgit2 on a private in-memory copy of the index
(the equivalent of ``GIT_INDEX_FILE=tmp git add -A && git write-tree``): the user's index file is
never written. ``tree`` is the id the work tree would have if committed (tracked and untracked,
non-ignored files), so the post-commit hook can link the run to the commit that holds exactly
this code; ``patch`` is the binary diff HEAD -> that tree, stored as a blob.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import platform
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

import pygit2

from gitvault.secrets import scan as secretscan
from gitvault.storage.blobs import BlobStore
from gitvault.storage.repo import RepoPaths

MAX_UNTRACKED_BYTES = 10 * 1024 * 1024
# untracked files whose name says they hold credentials: never copied into a run's patch
CREDENTIAL_NAMES = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.p12",
    "*.pfx", "*.jks", "*.keystore", ".netrc", "_netrc", ".pypirc", ".npmrc", ".git-credentials",
    ".htpasswd", "credentials*", "*secret*", "*service-account*.json",
    "*service_account*.json", "*.kdbx", ".boto", ".s3cfg", "kubeconfig*", ".dockercfg",
)
CAPTURE_MODES = ("none", "safe", "all")
KEY_PACKAGES = (
    "numpy", "torch", "jax", "jaxlib", "tensorflow", "polars", "pyarrow", "zarr", "scikit-learn",
    "transformers", "gitvault",
)


@functools.lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname() or "localhost"


@functools.lru_cache(maxsize=1)
def env_facts() -> dict[str, Any]:
    """Python, platform and versions of key packages (read from metadata; nothing is imported)."""
    return {"python": platform.python_version(), "platform": _platform(), "packages": package_versions()}


def _platform() -> str:
    """Like ``platform.platform()`` ("Linux-6.1.0-x86_64-with-glibc2.36") without its slow libc probe."""
    u = platform.uname()
    text = f"{u.system}-{u.release}-{u.machine}"
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):
        libc = ""
    return f"{text}-with-{libc.replace(' ', '')}" if libc else text


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    """Versions of the installed ``names``. One listdir per ``sys.path`` entry finds the
    ``<name>-<version>.dist-info`` folders (first on the path wins, as for imports); only
    packages found without a version in the folder name ask importlib.metadata."""
    wanted = {_normalize(n): n for n in names}
    found: dict[str, str] = {}
    for folder, dist, rest in _dist_folders((".dist-info", ".egg-info")):
        name = wanted.get(_normalize(dist))
        if name is None or name in found:
            continue
        version = rest.split("-", 1)[0] if folder.endswith(".egg-info") else rest
        if not version:
            import importlib.metadata

            try:
                version = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
        found[name] = version
    return {n: found[n] for n in names if n in found}


def _dist_folders(suffixes: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    """(folder, distribution, what follows its first ``-``) of each ``<name>-<version><suffix>``
    folder of every ``sys.path`` entry, in path order (one listdir per entry)."""
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in listing:
            if folder.endswith(suffixes):
                dist, _, rest = folder.rsplit(".", 1)[0].partition("-")
                yield folder, dist, rest


# -- what reproduces a run: the command, where it ran, the job, the GPUs, the packages -----------

# job ids of the schedulers a cluster runs: SLURM, PBS/Torque, LSF, SGE/UGE
SCHEDULER_VARS = (
    "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID",
    "SLURM_JOB_NAME", "SLURM_CLUSTER_NAME",
    "PBS_JOBID", "PBS_ARRAY_ID", "PBS_ARRAY_INDEX", "PBS_ARRAYID", "PBS_JOBNAME",
    "LSB_JOBID", "LSB_JOBINDEX", "LSB_JOBNAME",
    "JOB_ID", "SGE_TASK_ID", "JOB_NAME",
)
GPU_QUERY = "index,name,uuid,memory.total,driver_version"
NVIDIA_SMI_TIMEOUT_S = 1.0
LATE_WAIT_S = 1.0  # what finish() waits, at most, for the background facts


def entry_point(argv0: str, work_tree: Path | None, main_module: str | None) -> str | None:
    """How the process was started: ``-m pkg.module`` or the script's path, relative to the
    repository's work tree when inside it (else as given). None for ``-c``, a REPL or a notebook."""
    if main_module:
        return f"-m {main_module}"
    if not argv0 or argv0 in ("-c", "-"):
        return None
    path = Path(argv0)
    if work_tree is not None:
        try:
            return Path(os.path.relpath(os.path.abspath(path), work_tree)).as_posix() \
                if _inside(os.path.abspath(path), work_tree) else argv0
        except ValueError:
            return argv0
    return argv0


def _inside(path: str, folder: Path) -> bool:
    folder_s = str(folder)
    return path == folder_s or path.startswith(folder_s.rstrip(os.sep) + os.sep)


def _main_module() -> str | None:
    """The module ``python -m`` ran (``pkg`` for ``python -m pkg``), from ``__main__``'s spec."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not name or name == "__main__":
        return None
    if "ipykernel" in name:  # a notebook's kernel: no command reruns it
        return None
    return name[: -len(".__main__")] if name.endswith(".__main__") else name


def working_dir(work_tree: Path | None) -> str:
    """The working directory, relative to the work tree (``.`` at its root) when inside it."""
    cwd = os.getcwd()
    if work_tree is not None and _inside(cwd, work_tree):
        return Path(os.path.relpath(cwd, work_tree)).as_posix()
    return cwd


def _from_cwd(argv0: str, work_tree: Path | None) -> str:
    """A script's path as typed, or relative to the working directory when it was given as an
    absolute path inside the work tree (so the command reruns from a checkout elsewhere)."""
    if not os.path.isabs(argv0) or work_tree is None or not _inside(argv0, work_tree):
        return argv0
    return Path(os.path.relpath(argv0, os.getcwd())).as_posix()


def scheduler_ids(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The scheduler variables set for this process (SLURM, PBS, LSF, SGE)."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in SCHEDULER_VARS if env.get(name)}


def run_facts(argv: list[str], work_tree: Path | None) -> tuple[dict[str, Any], list[secretscan.Finding]]:
    """What reproduces the run, taken at its start (microseconds: no subprocess, no metadata
    read): ``entry`` (script or ``-m module``), ``command`` (what to type to run it again: the
    entry and its arguments, ``argv`` already redacted by the caller), ``cwd`` (relative to the
    repository), ``scheduler`` (job ids) and ``cuda_visible_devices``. Values from the
    environment go through the secret redaction (``env.scheduler.*``). Starts the background
    look-up of GPUs and installed packages (`late_facts`)."""
    start_late_facts()
    argv0 = sys.argv[0] if sys.argv else ""
    module = _main_module()
    entry = entry_point(argv0, work_tree, module)
    facts: dict[str, Any] = {"cwd": working_dir(work_tree), "entry": entry}
    if entry is not None:  # the script as typed: relative to the working directory
        script = ["-m", module] if module else [_from_cwd(argv0, work_tree)]
        facts["command"] = ["python", *script, *argv[1:]]
    found: list[secretscan.Finding] = []
    scheduler = scheduler_ids()
    if scheduler:
        facts["scheduler"], found = secretscan.redact(scheduler, "env.scheduler")
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cuda is not None:
        value, hits = secretscan.redact({"cuda_visible_devices": cuda}, "env")
        facts["cuda_visible_devices"] = value["cuda_visible_devices"]
        found += hits
    return facts, found


def installed_packages() -> dict[str, str]:
    """Every installed distribution and its version (``<name>-<version>.dist-info`` folders of
    ``sys.path``, first on the path wins; names as their folders spell them), sorted by name."""
    found: dict[str, tuple[str, str]] = {}
    for _, dist, version in _dist_folders((".dist-info",)):
        key = _normalize(dist)
        if dist and version and key not in found:
            found[key] = (dist, version)
    return {dist: version for _, (dist, version) in sorted(found.items())}


def visible_gpus(environ: Mapping[str, str] | None = None, timeout: float = NVIDIA_SMI_TIMEOUT_S
                 ) -> list[dict[str, str]] | None:
    """The GPUs ``nvidia-smi`` lists (index, name, uuid, memory, driver), only those
    ``CUDA_VISIBLE_DEVICES`` lets the process see; None without ``nvidia-smi`` or when it fails
    or takes longer than ``timeout``."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    fields = GPU_QUERY.split(",")
    gpus = []
    for line in proc.stdout.splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(fields):
            gpus.append(dict(zip(fields, values)))
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        gpus = [g for g in gpus if g["index"] in wanted or any(w and g["uuid"].startswith(w) for w in wanted)]
    return gpus


class _LateFacts:
    """GPUs and installed packages, looked up once per process in a daemon thread started by the
    first run, so neither ``nvidia-smi`` nor the listing ever delays a run's start."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.facts: dict[str, Any] = {}  # redacted already (in the thread: the scan may load its patterns)
        self.found: list[secretscan.Finding] = []
        self.started = False
        self.lock = threading.Lock()

    def start(self) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
        threading.Thread(target=self._look, name="gitvault-capture", daemon=True).start()

    def _look(self) -> None:
        try:
            self._publish({"installed": installed_packages()})  # a millisecond: published at once
            gpus = visible_gpus()
            if gpus is not None:
                self._publish({"gpus": gpus})
        except Exception:  # never a reason for a run to fail
            pass
        finally:
            self.done.set()

    def _publish(self, facts: dict[str, Any]) -> None:
        redacted, found = _redact_late(facts)
        self.facts, self.found = {**self.facts, **redacted}, self.found + found


def _redact_late(facts: dict[str, Any]) -> tuple[dict[str, Any], list[secretscan.Finding]]:
    """``installed`` and ``gpus`` through the secret redaction: the text that could carry one
    (package versions, GPU names), each field named; not the package names or GPU uuids, whose
    long runs of letters and digits alone would make the scanner load its patterns (about 25 ms
    of CPU) in every process, for facts no user typed."""
    out = dict(facts)
    found: list[secretscan.Finding] = []
    if "installed" in facts:
        names = list(facts["installed"])
        versions, hits = secretscan.redact([facts["installed"][n] for n in names], "env.installed")
        if hits:
            out["installed"] = dict(zip(names, versions))
            found += [secretscan.Finding(f"env.installed.{names[int(h.where.rsplit('[', 1)[1][:-1])]}", h.detector)
                      for h in hits]
    if "gpus" in facts:
        gpus = facts["gpus"]
        labels, hits = secretscan.redact([g.get("name", "") for g in gpus], "env.gpus")
        if hits:
            out["gpus"] = [{**g, "name": label} for g, label in zip(gpus, labels)]
            found += [secretscan.Finding(f"{h.where}.name", h.detector) for h in hits]
    return out, found


_LATE = _LateFacts()


def _late_after_fork() -> None:
    global _LATE
    if not _LATE.done.is_set():  # the thread did not come along: look again in the child
        _LATE = _LateFacts()


os.register_at_fork(after_in_child=_late_after_fork)


def start_late_facts() -> None:
    _LATE.start()


def late_facts(wait: float = LATE_WAIT_S) -> tuple[dict[str, Any], list[secretscan.Finding]]:
    """``installed`` ({name: version}) and ``gpus`` (when ``nvidia-smi`` answered), redacted, for
    a run sealed by the process that ran it; waits at most ``wait`` seconds for the look-up, and
    returns what it found so far when it is not done."""
    _LATE.start()
    _LATE.done.wait(wait)  # not done in time: what is known so far (the packages, not the GPUs)
    return dict(_LATE.facts), list(_LATE.found)


_REPOS: dict[tuple[int, str], pygit2.Repository] = {}
_LOCK = threading.Lock()
_PATCHES: dict[tuple[str, str], str] = {}  # (HEAD tree, work tree) -> patch blob: same trees, same patch


def _reset_after_fork() -> None:
    global _LOCK
    _LOCK = threading.Lock()
    _REPOS.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def git_facts(paths: RepoPaths, blobs: BlobStore) -> dict[str, Any]:
    """HEAD sha, branch, dirty flag, patch blob (or None) and would-be tree of the work tree."""
    with _LOCK:  # one private Repository (and in-memory index) per process and repository
        key = (os.getpid(), str(paths.git_dir))
        repo = _REPOS.get(key)
        if repo is None:
            repo = _REPOS[key] = pygit2.Repository(str(paths.git_dir))
        for attempt in range(3):
            try:
                return _git_facts(repo, blobs)
            except (OSError, pygit2.GitError, KeyError):
                # git gc / repack / prune-packed changed the object store under this handle (a
                # deleted pack, an emptied objects/xx folder): drop its view and look again
                if attempt == 2:
                    raise
                repo.free()
        raise AssertionError("unreachable")


def credential_shaped(path: str) -> bool:
    """True when a file's name (any folder of its path) says it holds credentials."""
    return any(fnmatch.fnmatch(part.lower(), pattern) for part in path.split("/") for pattern in CREDENTIAL_NAMES)


def capture_mode(repo: pygit2.Repository) -> str:
    """``git config vault.captureUntracked``: none, safe (the default) or all."""
    try:
        mode = str(repo.config["vault.captureUntracked"]).strip().lower()
    except (KeyError, pygit2.GitError):
        return "safe"
    return mode if mode in CAPTURE_MODES else "safe"


_SCANNED: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime) -> detector or None
MAX_SCANNED_BYTES = 2 * 1024 * 1024


def secret_in_file(path: Path, relpath: str) -> str | None:
    """The detector that fires on an untracked file's text, or None (binary files and files over
    ``MAX_SCANNED_BYTES`` are not read: data, not credentials). Remembered per size and mtime,
    so a run start re-reads only files that changed."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SCANNED:
        if len(_SCANNED) > 4096:
            _SCANNED.clear()
        found = None
        if st.st_size <= MAX_SCANNED_BYTES:
            try:
                data = path.read_bytes()
            except OSError:
                data = b"\0"
            if b"\0" not in data[:8192]:
                findings = secretscan.scan_text(data.decode("utf-8", "replace"), relpath, filename=relpath)
                found = findings[0].detector if findings else None
        _SCANNED[key] = found
    return _SCANNED[key]


def _work_tree(repo: pygit2.Repository, head_tree: pygit2.Tree | None
               ) -> tuple[pygit2.Oid, list[str], list[tuple[str, str]]]:
    """The tree ``git add -A && git write-tree`` would give (HEAD's own when nothing differs),
    built on this Repository object's private in-memory index (never written back). Untracked
    files larger than ``MAX_UNTRACKED_BYTES`` (datasets, checkpoints) are left out and listed
    instead: hashing them into ``.git/objects`` at every run would cost more than the run."""
    status = repo.status(untracked_files="all")  # against the in-memory index, kept equal to the file
    if not status and head_tree is not None:
        return head_tree.id, [], []
    mode = capture_mode(repo)
    index = repo.index
    index.read(True)
    skipped: list[str] = []
    credentials: list[tuple[str, str]] = []  # (path, why it was left out)
    workdir = Path(repo.workdir)
    fs = pygit2.enums.FileStatus
    try:
        for path, flags in sorted(status.items()):
            if flags & fs.WT_DELETED:
                index.remove(path)
            elif flags & (fs.WT_MODIFIED | fs.WT_TYPECHANGE):
                index.add(path)
            elif flags & fs.WT_NEW:
                if mode == "none":
                    continue
                if mode == "safe" and credential_shaped(path):
                    credentials.append((path, "credential-shaped name"))
                    continue
                try:
                    size = (workdir / path).lstat().st_size
                except OSError:
                    continue
                if size > MAX_UNTRACKED_BYTES:
                    skipped.append(path)
                    continue
                detector = secret_in_file(workdir / path, path) if mode == "safe" else None
                if detector is not None:
                    credentials.append((path, f"secret found: {detector}"))
                else:
                    index.add(path)
        return index.write_tree(), skipped, credentials
    finally:
        index.read(True)  # drop the additions: the next run's status must compare with the index file


def _git_facts(repo: pygit2.Repository, blobs: BlobStore) -> dict[str, Any]:
    facts: dict[str, Any] = {"sha": None, "branch": None, "dirty": False, "patch": None, "tree": None}
    head_tree: pygit2.Tree | None = None
    try:
        head_ref = repo.lookup_reference("HEAD")
        target = head_ref.target
        if isinstance(target, str) and target.startswith("refs/heads/"):
            facts["branch"] = target[len("refs/heads/"):]
    except (KeyError, pygit2.GitError):
        pass
    if not repo.head_is_unborn:
        commit = repo.head.peel(pygit2.Commit)
        facts["sha"] = str(commit.id)
        head_tree = commit.tree
    if repo.is_bare or repo.workdir is None:
        facts["tree"] = str(head_tree.id) if head_tree is not None else None
        return facts
    tree_id, skipped, credentials = _work_tree(repo, head_tree)
    facts["tree"] = str(tree_id)
    if skipped:
        facts["untracked_skipped"] = skipped
    if credentials:  # named, never copied: `git config vault.captureUntracked all` takes them anyway
        facts["untracked_left_out"] = [{"path": p, "why": why} for p, why in credentials]
    head_id = head_tree.id if head_tree is not None else None
    if tree_id != head_id:
        facts["dirty"] = True
        key = (str(head_id), str(tree_id))
        if key in _PATCHES and blobs.has(_PATCHES[key]):
            facts["patch"] = _PATCHES[key]
            return facts
        new_tree = repo[tree_id].peel(pygit2.Tree)
        if head_tree is not None:
            diff = head_tree.diff_to_tree(new_tree, flags=pygit2.enums.DiffOption.SHOW_BINARY)
        else:
            diff = new_tree.diff_to_tree(swap=True, flags=pygit2.enums.DiffOption.SHOW_BINARY)
        data = b"".join(patch.data for patch in diff if patch is not None)
        if data:
            facts["patch"] = _PATCHES[key] = blobs.put_bytes(data)
    return facts


def with_late_facts(header: dict[str, Any], wait: float = LATE_WAIT_S) -> dict[str, Any]:
    """A run's header with `late_facts` added to its ``env`` and their redactions to its
    ``redacted`` (a new dict; the header is not modified). Only the process that ran the run
    calls it: a run recovered elsewhere is sealed without them."""
    facts, found = late_facts(wait)
    if not facts:
        return header
    out = {**header, "env": {**(header.get("env") or {}), **facts}}
    if found:
        out["redacted"] = list(header.get("redacted") or []) + [{"field": f.where, "detector": f.detector}
                                                                 for f in found]
    return out
