"""The layers hold (docs/architecture.md, "Layers"), checked from the source with `ast`:

(a) no module imports a private name (``_x``) of another module, or reaches one through a module
    (``mod._x``) or on another module's object (``run._x`` where this module defines no ``_x``);
(b) the module-level import graph of the core (``gitvault/`` without the front-ends) has no cycle;
    imports inside functions are lazy by design and not edges of it;
(c) the core never imports a front-end (``gitvault.cli``, ``gitvault.mcp_server``,
    ``gitvault.hooks``, ``gitvault.tui``), not even lazily;
(d) a front-end never imports another front-end; the one exception: the CLI starts another
    front-end through its one public entry point, lazily (inside a function): ``git vault mcp``
    calls ``gitvault.mcp_server.serve``, ``git vault tui`` calls ``gitvault.tui.run`` and ``git vault
    hook <name>`` (what the installed git hook shims run) calls ``gitvault.hooks.main``;
(e) the query layer imports nothing of ``gitvault.runs`` (the SDK, the writer) but
    ``gitvault.runs.spool`` (a running run's files and their readers).

The front-ends are installed as ``gitvault.cli``, ``gitvault.mcp_server``, ``gitvault.hooks`` and
``gitvault.tui`` from the top-level folders ``cli/``, ``mcp_server/``, ``hooks/`` and ``tui/``.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = {"gitvault.cli": "cli", "gitvault.mcp_server": "mcp_server", "gitvault.hooks": "hooks",
              "gitvault.tui": "tui"}
ENTRY_POINTS = {("gitvault.cli", "gitvault.mcp_server", "serve"), ("gitvault.cli", "gitvault.hooks", "main"),
                ("gitvault.cli", "gitvault.tui", "run")}
"""(front-end, front-end it may start, the one public entry point it calls, lazily)."""

QUERY_MAY_IMPORT_FROM_RUNS = {"gitvault.runs.spool", "gitvault.runs.edits"}
"""A running run's spool (its format and readers), and the event edits behind the query layer's
writes (tag, note, rename, mark, archive, undo): one vault commit each, opening no Store."""

# Temporary: violations in modules other engineers are reshaping now (issue 15). Remove each entry
# with its fix; an entry that matches nothing any more is named in a warning (`_fixed`).
TEMPORARY_PRIVATE_IMPORTS: set[tuple[str, str]] = set()
"""(module, ``other.module._name`` or ``object._name`` as `_private_uses` names it)."""
TEMPORARY_CYCLES: set[frozenset[str]] = set()
"""Modules of a cycle of the core's module-level import graph."""
TEMPORARY_FRONT_END_IMPORTS: set[tuple[str, str]] = set()
"""(importing module, imported front-end module)."""
TEMPORARY_QUERY_IMPORTS_FROM_RUNS: set[tuple[str, str]] = set()
"""(query module, gitvault.runs module)."""


@dataclass(frozen=True)
class Import:
    module: str  # the module whose code imports
    target: str  # the module imported (``from pkg import submodule`` -> the submodule)
    name: str | None  # ``from target import name``: the name; None for a module import
    lazy: bool  # inside a function (or under ``if TYPE_CHECKING:``): no edge of the load-time graph
    line: int

    def where(self) -> str:
        return f"{self.module}:{self.line}"


def _modules() -> dict[str, Path]:
    """Every module of the installed package: dotted name -> source file."""
    found: dict[str, Path] = {}

    def walk(package: str, folder: Path) -> None:
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(p in ("__pycache__", "templates") for p in rel.parts):
                continue
            found[".".join([package, *parts])] = path

    walk("gitvault", ROOT / "gitvault")
    for package, folder in FRONT_ENDS.items():
        walk(package, ROOT / folder)
    return found


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _front_end(module: str) -> str | None:
    return next((f for f in FRONT_ENDS if module == f or module.startswith(f + ".")), None)


def _resolve(module: str, level: int, target: str | None) -> str:
    if not level:
        return target or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, ast.If) and _type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), lazy)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("gitvault"):
                        found.append(Import(module, alias.name, None, lazy, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                source = _resolve(module, child.level, child.module)
                if not source.startswith("gitvault"):
                    continue
                for alias in child.names:
                    sub = f"{source}.{alias.name}"
                    if sub in MODULES:
                        found.append(Import(module, sub, None, lazy, child.lineno))
                    else:
                        found.append(Import(module, source, alias.name, lazy, child.lineno))
            else:
                visit(child, lazy)

    visit(tree, False)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def _module_aliases(module: str) -> dict[str, str]:
    """Local names bound to gitvault modules anywhere in ``module`` (``import a.b as m``,
    ``from a import b``)."""
    aliases: dict[str, str] = {}
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gitvault") and alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node.level, node.module)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
    return aliases


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _names_bound(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(every name a module defines or assigns, attributes included; the local names of the
    modules it imports from outside gitvault, e.g. ``argparse``)."""
    bound: set[str] = set()
    foreign: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            bound.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import):
            foreign.update((a.asname or a.name.split(".")[0]) for a in node.names if not a.name.startswith("gitvault"))
    return bound, foreign


def _private_uses() -> set[tuple[str, str, str]]:
    """(module, what, where) for every private name of another module that a module imports,
    reaches through a module object (``mod._name``: what is ``other.module._name``) or reaches on
    another module's object (``run._state`` where this module defines no ``_state``: what is
    ``run._state``; ``self`` and ``cls`` are the class's own, whichever module defines the base)."""
    found: set[tuple[str, str, str]] = set()
    for module, imports in IMPORTS.items():
        for imp in imports:
            if imp.name is not None and _private(imp.name) and imp.target != module:
                found.add((module, f"{imp.target}.{imp.name}", imp.where()))
            elif imp.name is None and any(_private(p) for p in imp.target.split(".")):
                found.add((module, imp.target, imp.where()))
        aliases = _module_aliases(module)
        tree = ast.parse(MODULES[module].read_text())
        bound, foreign = _names_bound(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in aliases:
                if aliases[base.id] != module:
                    found.add((module, f"{aliases[base.id]}.{node.attr}", f"{module}:{node.lineno}"))
                continue
            owner = ast.unparse(base)
            if node.attr in bound or owner in ("self", "cls", "super()") or owner.split(".")[0] in foreign:
                continue
            found.add((module, f"{owner}.{node.attr}", f"{module}:{node.lineno}"))
    return found


def _core_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES if _front_end(m) is None}
    for module in graph:
        for imp in IMPORTS[module]:
            if not imp.lazy and imp.target in graph and imp.target != module:
                graph[module].add(imp.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


class FixedWarning(UserWarning):
    """An entry of a TEMPORARY_* list matches nothing any more: delete it."""


def _fixed(name: str, entries: set[Any]) -> None:
    """Warn (not fail: the fix may land before the list is edited) about entries of ``name`` that
    match nothing any more."""
    if entries:
        warnings.warn(FixedWarning(f"fixed: remove from {name} in tests/test_layers.py: {sorted(entries)}"))


def test_the_checker_sees_the_package() -> None:
    """The walk finds the core, every front-end and their imports (a broken walk would pass everything)."""
    assert {"gitvault.storage.vault", "gitvault.query", "gitvault.cli.main", "gitvault.mcp_server.server",
            "gitvault.hooks", "gitvault.tui"} <= set(MODULES)
    assert any(imp.target == "gitvault.storage.vault" for imp in IMPORTS["gitvault.runs.store"])
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_checker_finds_what_it_forbids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule flags a planted violation, and lets the allowed forms pass."""
    core = tmp_path / "core.py"
    core.write_text("import argparse\n"
                    "from gitvault.sync.exchange import _quiet_stage\n"
                    "from gitvault.scaffold import specimen\n"
                    "from gitvault.cli.main import main\n"
                    "def f(run, store):\n"
                    "    run._mine = specimen._folder(store, 'x')\n"
                    "    return store._vault, run._mine, argparse._SubParsersAction\n")
    front = tmp_path / "front.py"
    front.write_text("from gitvault.mcp_server.server import build_server\n"
                     "def run(args):\n"
                     "    from gitvault.mcp_server import serve\n"
                     "    from gitvault.hooks import main\n"
                     "    return serve(args.store)\n")
    for name, path in (("gitvault.planted", core), ("gitvault.cli.planted", front)):
        monkeypatch.setitem(MODULES, name, path)
        monkeypatch.setitem(IMPORTS, name, _imports(name))
    assert {what for module, what, _ in _private_uses() if module == "gitvault.planted"} == {
        "gitvault.sync.exchange._quiet_stage", "gitvault.scaffold.specimen._folder", "store._vault"}
    assert [(imp.target, why) for imp, why in _front_end_imports() if imp.module == "gitvault.cli.planted"] == [
        ("gitvault.mcp_server.server", "not gitvault.mcp_server's public entry point")]
    assert [imp.target for imp in _core_front_end_imports() if imp.module == "gitvault.planted"] == ["gitvault.cli.main"]


def test_no_module_uses_another_modules_private_names() -> None:
    found = _private_uses()
    bad = sorted((m, name, where) for m, name, where in found if (m, name) not in TEMPORARY_PRIVATE_IMPORTS)
    assert not bad, "give these a public name or move them where they belong:\n" + "\n".join(
        f"  {where}: {name}" for _, name, where in bad)
    _fixed("TEMPORARY_PRIVATE_IMPORTS", TEMPORARY_PRIVATE_IMPORTS - {(m, name) for m, name, _ in found})


def test_the_core_has_no_import_cycle() -> None:
    cycles = _cycles(_core_graph())
    bad = [c for c in cycles if frozenset(c) not in TEMPORARY_CYCLES]
    assert not bad, "import cycles at module level (import inside the function that needs it, or move code):\n" + \
        "\n".join(f"  {' <-> '.join(c)}" for c in bad)
    _fixed("TEMPORARY_CYCLES", {tuple(sorted(c)) for c in TEMPORARY_CYCLES - {frozenset(c) for c in cycles}})


def _core_front_end_imports() -> list[Import]:
    return [imp for module, imports in IMPORTS.items() if _front_end(module) is None
            for imp in imports if _front_end(imp.target) is not None]


def test_the_core_imports_no_front_end() -> None:
    bad = sorted(f"{imp.where()}: {imp.target}" for imp in _core_front_end_imports())
    assert not bad, "the core imports a front-end:\n" + "\n".join(f"  {b}" for b in bad)


def _front_end_imports() -> list[tuple[Import, str]]:
    """(import, why it is wrong) for every import of one front-end by another."""
    found = []
    for module, imports in IMPORTS.items():
        own = _front_end(module)
        if own is None:
            continue
        for imp in imports:
            other = _front_end(imp.target)
            if other is None or other == own:
                continue
            entry = (own, other, imp.name) in ENTRY_POINTS and imp.target == other
            if entry and imp.lazy:
                continue
            found.append((imp, "only lazily" if entry else f"not {other}'s public entry point"))
    return found


def test_no_front_end_imports_another() -> None:
    found = _front_end_imports()
    bad = sorted(f"{imp.where()}: {imp.target}{'.' + imp.name if imp.name else ''} ({why})"
                 for imp, why in found if (imp.module, imp.target) not in TEMPORARY_FRONT_END_IMPORTS)
    assert not bad, "a front-end imports another:\n" + "\n".join(f"  {b}" for b in bad)
    _fixed("TEMPORARY_FRONT_END_IMPORTS", TEMPORARY_FRONT_END_IMPORTS - {(imp.module, imp.target) for imp, _ in found})


def test_the_query_layer_imports_only_the_spool_of_runs() -> None:
    found = {(module, imp.target, imp.where()) for module, imports in IMPORTS.items()
             if module == "gitvault.query" or module.startswith("gitvault.query.")
             for imp in imports
             if (imp.target == "gitvault.runs" or imp.target.startswith("gitvault.runs."))
             and imp.target not in QUERY_MAY_IMPORT_FROM_RUNS}
    bad = sorted(f"{where}: {target}" for module, target, where in found
                 if (module, target) not in TEMPORARY_QUERY_IMPORTS_FROM_RUNS)
    assert not bad, "the query layer imports the SDK's writer modules:\n" + "\n".join(f"  {b}" for b in bad)
    _fixed("TEMPORARY_QUERY_IMPORTS_FROM_RUNS", TEMPORARY_QUERY_IMPORTS_FROM_RUNS - {(m, t) for m, t, _ in found})


@pytest.mark.parametrize("front_end", sorted(FRONT_ENDS))
def test_each_front_end_is_installed_from_its_folder(front_end: str) -> None:
    assert front_end in MODULES and MODULES[front_end].parent == ROOT / FRONT_ENDS[front_end]


def test_the_mcp_servers_entry_point_loads_the_server_only_when_called() -> None:
    """`git vault mcp` imports `gitvault.mcp_server.serve`; the package itself loads no mcp SDK."""
    import subprocess
    import sys

    script = ("import sys, gitvault.mcp_server as m\n"
              "print(m.__all__, sorted(n for n in sys.modules if n == 'mcp' or n.startswith('gitvault.mcp_server.')))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['serve'] []", proc.stderr
