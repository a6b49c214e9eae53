"""Derive the synthetic twin's session table from the published Weld-4M manifest.

    python scripts/derive_twin_sessions.py --manifest ../shared/weld4m/manifest.csv \
        --out benchmark/data/weld4m_sessions.csv

Writes, per recording session (a day: the run id's `MM-DD-YY`), how many welds of each category
were recorded in it: an aggregate of the manifest. Sessions are numbered 1, 2, ... in recording
order; no date, run id or split is written. `tests/test_synth.py` checks that the committed table
equals this derivation.
"""
from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path


def derive(manifest: Path) -> str:
    from benchmark.data.loader import read_manifest, run_id_of

    frame = read_manifest(manifest)
    days = []
    for subdir in frame["SUBDIRS"]:
        try:
            days.append(datetime.strptime(run_id_of(subdir)[:8], "%m-%d-%y").date())
        except ValueError:
            raise SystemExit(f"{manifest}: run id of {subdir!r} does not start with a day MM-DD-YY")
    number = {day: k for k, day in enumerate(sorted(set(days)), start=1)}
    frame["SESSION"] = [number[d] for d in days]
    table = frame.groupby(["SESSION", "CATEGORY"], sort=True).size().reset_index(name="N")
    return table.to_csv(index=False, lineterminator="\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    args.out.write_text(derive(args.manifest))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
