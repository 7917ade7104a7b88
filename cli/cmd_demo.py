"""`git vault demo`: fill this repository's vault with the demo specimens, runs, models and todos."""

from __future__ import annotations

import argparse

from gitvault.cli.output import print_json
from gitvault.cli.progress import Progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="add the demo specimens, runs, lineage, models and todos to this vault",
                       description="Creates the Specimen Vault seed's example_2024_12_19_synthetic_demo specimen "
                                   "(scaffolds specimens/<id>/ and runs its protocol.py: 100 steps of "
                                   "loss/accuracy, a 100x512 activation tensor), two more specimens and an "
                                   "Extract-style hierarchy (imagenet, cifar10) with completed and failed runs, "
                                   "lineage, registered models and todos. Running it again adds nothing.")
    p.add_argument("--json", action="store_true", help="print what was created as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitvault.scaffold import demo  # numpy and the SDK load only when this command runs

    with Progress("git vault demo", labels={"demo": "building the demo"}, json=args.json) as progress:
        report = demo.build(args.directory, progress=progress.update)
    if args.json:
        print_json(report.as_dict())
        return 0
    def counts(bucket: dict[str, int]) -> str:
        return ", ".join(f"{n} {what}" for what, n in bucket.items() if n) or "nothing"
    if report.changed:
        print(f"demo built: {counts(report.created)}")
        if any(report.present.values()):
            print(f"  already present: {counts(report.present)}")
    else:
        print(f"demo already complete ({counts(report.present)}); nothing added")
    for file in report.files:
        print(f"  wrote {file}")
    print("try: git vault experiments | git vault runs | git vault lineage resnet50-imagenet@v1.0 | "
          f"git vault sql \"SELECT * FROM exp_{demo.SPECIMEN_ID} WHERE loss < 0.5\"")
    return 0
