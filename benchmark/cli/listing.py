"""`bench list`: the registered methods."""
from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("list", help="registered methods").set_defaults(func=command)


def command(args) -> int:
    from tabulate import tabulate

    from benchmark.method import load_methods

    rows = [(name, s.row_code, s.display_name, f"({s.group.letter}) {s.group.value}",
             "+".join(s.modalities), s.role.value, "yes" if s.yields_maps else "no",
             s.view_pooling.value, s.summary)
            for name, s in load_methods().items()]
    rows.sort(key=lambda r: (r[3], r[0]))
    print(tabulate(rows, headers=["method", "row", "display name", "group", "modalities", "role",
                                  "maps", "views", "summary"]))
    return 0
