"""`git vault new <id> --domain D --method M`: create a specimen and scaffold its folder."""

from __future__ import annotations

import argparse

from gitvault.cli.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new", help="create a specimen (experiment with taxonomy) and scaffold specimens/<id>/",
                       description="Validate the id and the domain x method pair against vault.toml, refuse a "
                                   "duplicate id, record the manifest in refs/vault/main and write "
                                   "specimens/<id>/protocol.py and field_notes.md (commit them like any code).")
    p.add_argument("id", help="specimen id: letters, digits, '_' and '-', e.g. 2024_12_19_my_experiment")
    p.add_argument("--domain", required=True, help="e.g. interpretability, training, benchmarking, alignment")
    p.add_argument("--method", required=True, help="e.g. sae_analysis, probe_training, ablation_study, fine_tuning")
    p.add_argument("--tags", default=None, help="comma-separated, e.g. gpt2,layer_12")
    p.add_argument("--model", default=None, help="the model studied, e.g. gpt2")
    p.add_argument("--no-scaffold", action="store_true", help="record the manifest only; write no files")
    p.add_argument("--json", action="store_true", help="print the created specimen as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.scaffold import specimen
    from gitvault.runs.store import Store

    store = Store(args.directory)
    made = specimen.create(store, args.id, args.domain, args.method, tags=args.tags, model=args.model,
                           scaffold=not args.no_scaffold)
    record = made.experiment.record
    if args.json:
        print_json({"specimen_id": record["specimen_id"], "experiment_id": record["id"], "path": record["path"],
                    "domain": record["domain"], "method": record["method"], "model": record.get("model"),
                    "tags": record.get("tags") or [], "created_at": record.get("created_at"),
                    "files": [str(f) for f in made.files]})
        return 0
    print(f"created specimen {record['specimen_id']} ({record['domain']} / {record['method']})")
    print(f"  experiment: {record['path']} ({record['id']})")
    for file in made.files:
        print(f"  wrote {file}")
    if made.files:
        print(f"next: edit and run python {made.files[0]}, then commit specimens/{record['specimen_id']}/")
    return 0
