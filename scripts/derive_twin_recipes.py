"""Derive the synthetic twin's recipe table from the published Weld-4M manifest.

    python scripts/derive_twin_recipes.py --manifest ../shared/weld4m/manifest.csv \
        --out benchmark/data/weld4m_recipes.csv

Writes, per category, every distinct recipe (weld type, plate, steel, current, voltage, gas,
robot speed) and how many welds used it: an aggregate of the manifest (no run ids, no splits).
`tests/test_recipes.py` checks that the committed table equals this derivation.
"""
from __future__ import annotations

import argparse
from pathlib import Path

COLUMNS = ["CATEGORY", "WELD_TYPE", "THICKNESS_MM", "STEEL_TYPE", "CURRENT_A", "VOLTAGE_V",
           "GAS_BAR", "ROBOT_SPEED_CPM"]


def derive(manifest: Path) -> str:
    from benchmark.data.loader import read_manifest

    frame = read_manifest(manifest)
    table = frame.groupby(COLUMNS, sort=True).size().reset_index(name="N")
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
