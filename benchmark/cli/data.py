"""`bench data synth|check`: the synthetic twin and the dataset check."""
from __future__ import annotations

import sys
from pathlib import Path

from benchmark.cli._options import csv_list


def add_parser(sub) -> None:
    d = sub.add_parser("data", help="synthetic twin and data checks")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the synthetic twin in the real layout")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=("quick", "full", "tiny"), default="quick")
    s.add_argument("--no-label", action="store_true", help="draw the photos without the printed run-id label")
    s.set_defaults(func=synth)
    c = dsub.add_parser("check", help="validate every sample of a dataset folder")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--manifest", type=Path)
    c.add_argument("--json", type=Path, default=Path("check_report.json"),
                   help="machine-readable report, every problem (written here, not into the dataset folder)")
    c.add_argument("--require", type=csv_list,
                   help="modalities every sample must have, e.g. audio,sensor,image (default: all "
                        "four: every Weld-4M sample ships them and `bench run --method all` needs them)")
    c.add_argument("--label-guard", action="store_true",
                   help="run the label guard over every view: found / unsure / not found per view")
    c.add_argument("--sheet", type=Path,
                   help="contact sheet PNG of the views the label guard is unsure of or found no "
                        "label in (default: beside --json, <json stem>_labels.png)")
    c.set_defaults(func=check)


def synth(args) -> int:
    from benchmark.data.synth import synthesize

    out = synthesize(args.out, seed=args.seed, size=args.size, label=not args.no_label)
    print(f"synthetic twin written to {out}")
    return 0


def check(args) -> int:
    from benchmark.data.check import main_check
    from benchmark.data.sample import MODALITIES

    require = args.require or MODALITIES
    unknown = [m for m in require if m not in MODALITIES]
    if unknown:
        print(f"bench: error: --require: unknown modality {unknown}; the modalities are "
              f"{','.join(MODALITIES)}", file=sys.stderr)
        return 2
    sheet = args.sheet or args.json.with_name(f"{args.json.stem}_labels.png")
    return main_check(args.root, args.manifest, args.json, require=require,
                      label_guard=args.label_guard, sheet=sheet if args.label_guard else None)
