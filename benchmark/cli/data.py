"""`bench data synth|check`: the synthetic twin and the dataset check."""
from __future__ import annotations

import sys
from pathlib import Path

from benchmark.cli import _options as O


def add_parser(sub) -> None:
    from benchmark.data.synth.media import MEDIA
    from benchmark.data.synth.process import SIZES

    d = sub.add_parser("data", help="synthetic twin and data checks")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the synthetic twin in the real layout")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=list(SIZES), default="quick")
    s.add_argument("--no-label", action="store_true", help="draw the photos without the printed run-id label")
    O.add_recipes(s, "--recipes")
    s.add_argument("--media", choices=list(MEDIA), default="small",
                   help="small: 64x48 video, 6 s, 320x240 photos; full: the real sizes (2064x1548 "
                        "photos, 640x480 video and audio of 38 s), for paper-profile checks")
    s.add_argument("--minimum", action="store_true",
                   help="only the six welds that run the whole protocol (2 TRAIN, 2 VAL, 2 TEST)")
    s.set_defaults(func=synth)
    r = dsub.add_parser("recipes", help="how far the weld recipe alone goes on a manifest's split (no media)")
    r.add_argument("--manifest", type=Path, required=True)
    r.add_argument("--split-seed", type=int, default=0, help="seed of the derived split when the manifest has none")
    r.add_argument("--out", type=Path, default=Path("recipe_matched.csv"),
                   help="where the recipe-matched defects are written (CSV)")
    r.set_defaults(func=recipes)
    c = dsub.add_parser("check", help="validate every sample of a dataset folder")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--manifest", type=Path)
    c.add_argument("--json", type=Path, default=Path("check_report.json"),
                   help="machine-readable report, every problem (written here, not into the dataset folder)")
    c.add_argument("--require", type=O.csv_list,
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
    from benchmark.data.synth.media import protocol_minimum

    out = synthesize(args.out, seed=args.seed, size=args.size, label=not args.no_label,
                     recipes=args.recipes, media=args.media,
                     select=protocol_minimum if args.minimum else None)
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


def recipes(args) -> int:
    from benchmark.recipe_report import recipe_report, render, write_matched

    report = recipe_report(args.manifest, seed=args.split_seed)
    print(render(report))
    print(f"wrote {write_matched(report, args.out)}")
    return 0
