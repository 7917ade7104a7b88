"""`git vault models`: the model registry.

- ``git vault models [PREFIX]`` (or ``models list [PREFIX]``): every version with its aliases;
- ``git vault models alias NAME ALIAS VERSION`` / ``models unalias NAME ALIAS``: set, move or remove
  an alias (an event commit, through the SDK's `Store`);
- ``git vault models get NAME@VERSION|NAME@ALIAS|NAME --out DIR``: copy a model's files out,
  fetching blobs a ``--records-only`` pull left behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitvault.cli.cmd_runs import add_json, footer, limited, open_query, when
from gitvault.cli.output import print_json, print_table

ACTIONS = ("list", "alias", "unalias", "get")
USAGE = ("git vault models [PREFIX] | models list [PREFIX] | models alias NAME ALIAS VERSION | "
         "models unalias NAME ALIAS | models get NAME@VERSION|NAME@ALIAS --out DIR")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="the model registry: versions and aliases; set aliases; copy a model out",
        usage=USAGE.replace(" | ", "\n       "),
        description="Models registered with run.register_model(). With no action: the versions whose name "
                    "starts with PREFIX, with their aliases ('latest' is the version registered last). "
                    "`alias NAME ALIAS VERSION` points ALIAS (best, production, any name) at VERSION, moving it; "
                    "`unalias NAME ALIAS` removes it; `get REF --out DIR` copies the model's files into DIR "
                    "(REF: NAME@VERSION, NAME@ALIAS or NAME for its latest version).")
    p.add_argument("words", nargs="*", metavar="ARG", help="PREFIX, or an action (list, alias, unalias, get) and its arguments")
    p.add_argument("--out", default=None, metavar="DIR", help="models get: the folder to copy the files into")
    p.add_argument("--limit", type=int, default=None, help="show at most N models")
    add_json(p, "the models")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    action = words.pop(0) if words and words[0] in ACTIONS else "list"
    if action == "alias":
        return _alias(args, words)
    if action == "unalias":
        return _unalias(args, words)
    if action == "get":
        return _get(args, words)
    if len(words) > 1:
        raise ValueError(f"models takes one PREFIX, got {' '.join(words)!r}; usage: {USAGE}")
    return _list(args, words[0] if words else "")


def _list(args: argparse.Namespace, prefix: str) -> int:
    with open_query(args) as q:
        page = limited(lambda n: q.list_models(name_prefix=prefix, limit=n), args.limit)
    if args.json:
        print_json(page)
        return 0
    rows = [{"model": f"{m['name']}@{m['version']}", "aliases": ", ".join(m.get("aliases") or []),
             "framework": m.get("framework"), "run": m.get("run_id"), "created": when(m.get("created_at")),
             "id": m["id"], "metadata": m.get("metadata")}
            for m in page["items"]]
    print_table(rows, ["model", "aliases", "framework", "run", "created", "id", "metadata"])
    note = footer(page, "models")
    if note:
        print(note)
    return 0


def _store(args: argparse.Namespace) -> Any:
    from gitvault.runs.store import Store

    return Store(args.directory)


def _alias(args: argparse.Namespace, words: list[str]) -> int:
    if len(words) != 3:
        raise ValueError(f"models alias takes NAME ALIAS VERSION, e.g. `git vault models alias net best 3`; got {words}")
    name, alias, version = words
    with _store(args) as store:
        store.set_model_alias(name, alias, version)
        aliases = store.model_aliases(name)
    if args.json:
        print_json({"name": name, "aliases": aliases})
    else:
        print(f"{name}@{alias} -> version {aliases.get(alias, version)}")
    return 0


def _unalias(args: argparse.Namespace, words: list[str]) -> int:
    if len(words) != 2:
        raise ValueError(f"models unalias takes NAME ALIAS, e.g. `git vault models unalias net best`; got {words}")
    name, alias = words
    with _store(args) as store:
        store.remove_model_alias(name, alias)
        aliases = store.model_aliases(name)
    if args.json:
        print_json({"name": name, "aliases": aliases})
    else:
        print(f"removed alias {alias!r} of model {name}")
    return 0


def _get(args: argparse.Namespace, words: list[str]) -> int:
    if len(words) != 1:
        raise ValueError(f"models get takes one NAME@VERSION or NAME@ALIAS, e.g. `git vault models get net@best --out model/`; got {words}")
    if not args.out:
        raise ValueError("models get needs --out DIR: the folder to copy the model's files into")
    with _store(args) as store:
        model = store.get_model(words[0])
        out = Path(args.out)
        files = [p.relative_to(out).as_posix() for p in store.download_model(words[0], out)]
    if args.json:
        print_json({"model": f"{model['name']}@{model['version']}", "id": model["id"], "out": str(out), "files": files})
    else:
        print(f"copied {model['name']}@{model['version']} ({len(files)} file{'s' if len(files) != 1 else ''}) into {out}")
    return 0
