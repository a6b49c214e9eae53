"""`bench data synth|confounds|check|masks`: the synthetic twin, the confounds of a manifest, the
dataset check, mask import."""
from __future__ import annotations

import sys
from pathlib import Path

from benchmark.cli import _options as O

CHECKS = Path("results/checks")  # where `bench data check` writes its report by default


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
    O.add_confounds(s, "--confounds")
    s.add_argument("--media", choices=list(MEDIA), default="small",
                   help="small: 64x48 video, 6 s, 320x240 photos; full: the real sizes (2064x1548 "
                        "photos, 640x480 video and audio of 38 s), for paper-profile checks")
    s.add_argument("--minimum", action="store_true",
                   help="only the six welds that run the whole protocol (2 TRAIN, 2 VAL, 2 TEST)")
    s.set_defaults(func=synth)
    r = dsub.add_parser("confounds", help="how far the recipe and the recording session alone go "
                                           "on a manifest's split (no media)")
    r.add_argument("--manifest", type=Path, required=True,
                   help="manifest CSV (Weld-4M's published one, or a run's manifest_used.csv)")
    r.add_argument("--split-seed", type=int, default=0, help="seed of the derived split when the manifest has none")
    r.add_argument("--out", type=Path,
                   help="also write the TEST defects matched on a confound here (CSV)")
    r.set_defaults(func=confounds)
    c = dsub.add_parser("check", help="validate every sample of a dataset folder")
    c.add_argument("--root", type=Path, required=True, help="the dataset folder to check")
    c.add_argument("--manifest", type=Path,
                   help="manifest CSV with SPLIT (default: <root>/manifest.csv, else derived)")
    c.add_argument("--json", type=Path,
                   help="machine-readable report, every problem (default: "
                        f"{CHECKS}/<root folder>/check_report.json; never into the dataset folder)")
    c.add_argument("--require", type=O.csv_list,
                   help="modalities every sample must have, e.g. audio,sensor,image (default: all "
                        "four: every Weld-4M sample ships them and `bench run --method all` needs them)")
    c.add_argument("--label-guard", action="store_true",
                   help="run the label guard over every view: found / unsure / not found per view")
    c.add_argument("--sheet", type=Path,
                   help="contact sheet PNG of the views the label guard is unsure of or found no "
                        "label in (default: beside --json, <json stem>_labels.png)")
    c.set_defaults(func=check)
    m = dsub.add_parser("masks", help="pixel masks: export the views to annotate, import annotations")
    msub = m.add_subparsers(dest="masks_command", required=True)
    mi = msub.add_parser("import", help="COCO polygons / RLE (CVAT, Label Studio) -> "
                                        "<run>/masks/<view stem>.png, one per view")
    mi.add_argument("--coco", type=Path, required=True, help="COCO annotation file (JSON)")
    _add_masks_dataset(mi)
    mi.add_argument("--force", action="store_true", help="overwrite masks that exist")
    mi.set_defaults(func=masks_import)
    me = msub.add_parser("export", help="the defect views (and their masks, if any) -> a COCO file "
                                        "that CVAT or Label Studio loads and `import` reads back")
    _add_masks_dataset(me)
    me.add_argument("--out", type=Path, required=True, help="the COCO file to write (JSON)")
    me.add_argument("--split", choices=("TEST", "VAL", "all"), default="TEST",
                    help="whose defect views (default: TEST, where pixel metrics are computed)")
    me.add_argument("--guarded-images", action="store_true",
                    help="also write the label-guarded views beside the file, under their paths "
                         "relative to the root (point the annotation tool at that folder)")
    me.set_defaults(func=masks_export)


def _add_masks_dataset(p) -> None:
    """The dataset the mask tools read: its folder and its manifest."""
    p.add_argument("--root", type=Path, required=True, help="dataset folder (real layout)")
    p.add_argument("--manifest", type=Path,
                   help="manifest CSV with SPLIT (default: <root>/manifest.csv, else derived)")


def synth(args) -> int:
    from benchmark.data.synth import synthesize
    from benchmark.data.synth.media import protocol_minimum

    out = synthesize(args.out, seed=args.seed, size=args.size, label=not args.no_label,
                     confounds=args.confounds, media=args.media,
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
    # NOTE: a named place under results/, never the working directory by surprise
    out = args.json or CHECKS / Path(args.root).resolve().name / "check_report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet = args.sheet or out.with_name(f"{out.stem}_labels.png")
    return main_check(args.root, args.manifest, out, require=require,
                      label_guard=args.label_guard, sheet=sheet if args.label_guard else None)


def masks_import(args) -> int:
    from benchmark.data.masks import import_coco
    from benchmark.data.sample import DataError

    try:
        report = import_coco(args.coco, args.root, manifest=args.manifest, force=args.force)
    except DataError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


def masks_export(args) -> int:
    from benchmark.data.masks import export_coco
    from benchmark.data.sample import DataError

    splits = ("TRAIN", "VAL", "TEST") if args.split == "all" else (args.split,)
    try:
        report = export_coco(args.root, args.out, manifest=args.manifest, splits=splits,
                             guarded_images=args.guarded_images)
    except DataError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {report.summary()}")
    return 0


def confounds(args) -> int:
    from benchmark.data.confound_report import confound_report, render, write_matched
    from benchmark.data.sample import DataError

    try:
        report = confound_report(args.manifest, seed=args.split_seed)
    except DataError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    print(render(report))
    if args.out:
        print(f"wrote {write_matched(report, args.out)}")
    return 0
