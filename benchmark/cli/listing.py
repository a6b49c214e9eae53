"""`bench list`: the registered methods, one row each, as wide as the terminal."""
from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("list", help="registered methods: row, group, modalities, role, package"
                   ).set_defaults(func=command)

def command(args) -> int:
    import shutil

    from tabulate import tabulate

    from benchmark.method import load_methods
    from benchmark.results.tables.build import MODALITY_LETTERS as letters

    def package(spec) -> str:
        top = spec.cls.__module__.split(".")[0]
        return "weld-bench" if top == "methods" else top  # a plugin: the package it came from

    columns = ["method", "row", "display name", "grp", "mod.", "role", "maps", "views",
               "package", "summary"]
    rows = [[name, s.row_code, s.display_name, s.group.letter,
             "+".join(letters.get(m, m) for m in s.modalities), s.role.value,
             "yes" if s.yields_maps else "no", s.view_pooling.value, package(s), s.summary]
            for name, s in load_methods().items()]
    rows.sort(key=lambda r: (r[3], r[1] or "~", r[0]))
    # NOTE: long display names and summaries wrap; on a narrow terminal the least needed
    # columns go first (summary, then views and maps)
    width = shutil.get_terminal_size((120, 24)).columns
    limit = {"display name": 28}
    for drop in ([], ["summary"], ["summary", "views", "maps"]):
        keep = [i for i, c in enumerate(columns) if c not in drop]
        fixed = sum(min(limit.get(columns[i], 99), max(len(str(r[i])) for r in [columns, *rows])) + 2
                    for i in keep if columns[i] != "summary")
        room = width - fixed - 8  # tabulate pads a wrapped column a little
        if "summary" not in drop and room < 24:
            continue
        if fixed <= width or drop[-1:] == ["maps"]:
            break
    widths = [room if columns[i] == "summary" else limit.get(columns[i]) for i in keep]
    print(tabulate([[r[i] for i in keep] for r in rows], headers=[columns[i] for i in keep],
                   maxcolwidths=widths))
    return 0
