"""Renderers of a `Table`: LaTeX (jinja2 templates, booktabs), terminal and Markdown (tabulate).

A LaTeX table is by default a fragment: one `table` (or `table*`, for a table wider than a column
of a two-column paper) float with its caption, label and notes, for a paper to `\\input`; its
preamble needs only `PACKAGES`. `standalone=True` writes a compilable document instead (article
class, booktabs, caption: all in Debian's texlive-latex-base + texlive-latex-recommended) whose
page is cropped to the table, to compile on its own and view as a PNG.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path

import jinja2

from benchmark.results.tables.model import BEST, SECOND, Cell, Column, Table, format_number

TEMPLATES = Path(__file__).parent / "templates"
# what a paper's preamble needs for every fragment (graphicx: a table wider than its column
# is scaled to fit)
PACKAGES = ("booktabs", "graphicx")
TABCOLSEP = "4pt"  # a little under LaTeX's 6pt, so that the wide tables fit a page's width

# NOTE: OT1-safe replacements only (no T1/TS1 glyphs such as \textless): the minimal TeX install
# has no cm-super fonts, and a T1 glyph would make pdflatex look for bitmap fonts.
_TEX = {
    "\\": r"$\backslash$", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\~{}", "^": r"\^{}", "<": r"$<$", ">": r"$>$", "|": r"$|$",
    "±": r"$\pm$", "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$", "→": r"$\rightarrow$",
    "←": r"$\leftarrow$", "–": "--", "—": "---", "·": r"$\cdot$", "…": r"\dots{}",
    "µ": r"$\mu$", "μ": r"$\mu$", "Δ": r"$\Delta$", "α": r"$\alpha$", "β": r"$\beta$",
    "γ": r"$\gamma$", "λ": r"$\lambda$", "σ": r"$\sigma$", "τ": r"$\tau$", "ε": r"$\epsilon$",
    "“": "``", "”": "''", "‘": "`", "’": "'", "\n": " ", "\t": " ", "†": r"$\dagger$",
    "−": r"$-$",
}


def tex_escape(value: object) -> str:
    """Plain text -> LaTeX text: specials escaped, non-ASCII transliterated (never a compile error).

    >>> tex_escape("causal_film 50% & x^2 ±")
    'causal\\\\_film 50\\\\% \\\\& x\\\\^{}2 $\\\\pm$'
    """
    out = []
    for ch in str(value):
        if ch in _TEX:
            out.append(_TEX[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append("".join(_TEX.get(c, c) for c in ascii_) or "?")
    return "".join(out)


def _env() -> jinja2.Environment:
    # NOTE: LaTeX-friendly delimiters: braces and % stay plain LaTeX inside the templates.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=False,
        block_start_string="<%", block_end_string="%>", variable_start_string="<<",
        variable_end_string=">>", comment_start_string="<#", comment_end_string="#>",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined)
    env.filters["tex"] = tex_escape
    return env


# ---------------------------------------------------------------------------- LaTeX
def tex_cell(col: Column, cell: Cell | None) -> str:
    if cell is None:
        return ""
    mark = f"\\textsuperscript{{{cell.note}}}" if cell.note else ""
    if cell.text is not None or col.kind == "text":
        return (tex_escape(cell.text) if cell.text is not None else "--") + mark
    if not cell.defined:
        return "--" + mark
    mean, std = format_number(col, cell)
    body = mean if std is None else f"{mean}{{\\scriptsize\\,$\\pm$\\,{std}}}"
    if cell.rank == BEST:
        body = f"\\textbf{{{body}}}"
    elif cell.rank == SECOND:
        body = f"\\underline{{{body}}}"
    return body + mark


def _header_spans(columns: list[Column]) -> list[tuple[str, int, int]]:
    """(label, first column index (1-based, after the row header), width) of each super-header."""
    spans, i = [], 0
    while i < len(columns):
        j = i
        while j + 1 < len(columns) and columns[j + 1].span == columns[i].span:
            j += 1
        spans.append((columns[i].span, i + 2, j - i + 1))
        i = j + 1
    return spans


def _span_header(columns: list[Column]) -> tuple[str, str]:
    """The super-header row and its \\cmidrule(s); empty strings when no column has a span."""
    if not any(c.span for c in columns):
        return "", ""
    cells, rules = [""], []
    for label, first, width in _header_spans(columns):
        if label:
            cells.append(f"\\multicolumn{{{width}}}{{c}}{{{tex_escape(label)}}}")
            rules.append(f"\\cmidrule(lr){{{first}-{first + width - 1}}}")
        else:
            cells += [""] * width
    return " & ".join(cells), "".join(rules)


def preamble_text() -> str:
    return "".join(f"\\usepackage{{{p}}}" for p in PACKAGES)


def to_latex(table: Table, source: str = "", standalone: bool = False) -> str:
    """A fragment to `\\input` (default), or with `standalone` a document of its own."""
    template = _env().get_template("table.tex.j2" if standalone else "fragment.tex.j2")
    groups = [{"title": g.title,
               "rows": [{"label": r.label, "cells": [tex_cell(c, r.cells.get(c.key)) for c in table.columns]}
                        for r in g.rows]} for g in table.groups]
    span_row, cmidrules = _span_header(table.columns)
    return template.render(
        table=table, groups=groups, span_row=span_row, cmidrules=cmidrules,
        ncols=len(table.columns) + 1, packages=preamble_text(), tabcolsep=TABCOLSEP,
        colspec="l" + "".join(c.align for c in table.columns), source=source)


def appendix_latex(items, provenance: str, source: str = "", standalone: bool = False) -> str:
    return _env().get_template("appendix.tex.j2").render(
        items=items, provenance=provenance, source=source, fmt=_fmt_value, standalone=standalone,
        packages=preamble_text())


def _fmt_value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_fmt_value(x) for x in v) + ")"
    return str(v)


# ---------------------------------------------------------------------------- terminal / Markdown
def _text_cell(col: Column, cell: Cell | None, style: str) -> str:
    if cell is None:
        return ""
    mark = "" if not cell.note else (f"<sup>{cell.note}</sup>" if style == "markdown" else f" ({cell.note})")
    if cell.text is not None or col.kind == "text":
        text = cell.text if cell.text is not None else "–"
        return (text.replace("|", "\\|") if style == "markdown" else text) + mark
    if not cell.defined:
        return "–" + mark
    mean, std = format_number(col, cell)
    body = mean if std is None else f"{mean} ± {std}"
    if cell.rank and style == "markdown":
        body = f"**{body}**" if cell.rank == BEST else f"<u>{body}</u>"
    elif cell.rank and style == "ansi":
        body = ("\033[1m" if cell.rank == BEST else "\033[4m") + body + "\033[0m"
    elif cell.rank:
        body += " *" if cell.rank == BEST else " °"
    return body + mark


def to_text(table: Table, style: str = "plain") -> str:
    """The table for a terminal (`plain`: best marked *, second °; `ansi`: bold / underline) or
    as GitHub Markdown (`markdown`: **best**, <u>second</u>)."""
    from tabulate import tabulate

    md = style == "markdown"
    headers = [table.row_header] + [f"{c.span} {c.label}".strip() for c in table.columns]
    rows = []
    for g in table.groups:
        if g.title:
            rows.append([f"**{g.title}**" if md else g.title] + [""] * len(table.columns))
        for r in g.rows:
            # NOTE: the paper's row label, and the registry name a command takes (bench run --method)
            label = r.label if r.method in ("", r.label) else f"{r.label} [{r.method}]"
            label = label.replace("_", "\\_") if md else label
            rows.append([label] + [_text_cell(c, r.cells.get(c.key), style) for c in table.columns])
    align = ["left"] + ["left" if c.kind == "text" else "right" for c in table.columns]
    body = tabulate(rows, headers=headers, tablefmt="github" if md else "simple", colalign=align,
                    disable_numparse=True)
    title = f"### {table.title}" if md else table.title
    lines = [title, "", table.caption, "", body, ""]
    if style == "plain" and any(c.ranked and c.kind != "text" for c in table.columns):
        lines.append("* best, ° second best per column (rows with the metric defined)")
    lines += [f"{n}  " if md else n for n in table.details]
    for marker, text in table.notes:
        lines.append(f"<sup>{marker}</sup> {text}  " if md else f"({marker}) {text}")
    lines += [f"{n}  " if md else n for n in table.extra_notes]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------- HTML
def _html_cell(col: Column, cell: Cell | None, heat=None) -> str:
    """One <td>: best <strong>, second <u>, std in a <small>, footnote markers as <sup>; `heat`
    (value -> CSS colours) paints a defined metric cell."""
    from markupsafe import escape

    if cell is None:
        return "<td></td>"
    mark = f"<sup>{escape(cell.note)}</sup>" if cell.note else ""
    title = f' title="{escape(cell.reason)}"' if cell.reason else ""
    if cell.text is not None or col.kind == "text":
        return f'<td class="text"{title}>{escape(cell.text if cell.text is not None else "–")}{mark}</td>'
    if not cell.defined:
        return f'<td class="dash"{title}>–{mark}</td>'
    mean, std = format_number(col, cell)
    body = str(escape(mean)) + (f"<small> ± {escape(std)}</small>" if std is not None else "")
    if cell.rank == BEST:
        body = f"<strong>{body}</strong>"
    elif cell.rank == SECOND:
        body = f"<u>{body}</u>"
    style = f' style="{heat(cell.mean)}"' if heat is not None else ""
    return f'<td class="num"{style}{title}>{body}{mark}</td>'


def to_html(table: Table, heat=None) -> str:
    """The table as an HTML fragment (<table> with caption, row groups and notes): the same cells,
    ranks and footnotes as the LaTeX and terminal tables. `heat`: see `_html_cell`."""
    from markupsafe import escape

    head = []
    if any(c.span for c in table.columns):
        cells = ['<th class="blank"></th>'] + [
            f'<th colspan="{w}" class="{"span" if label else "blank"}">{escape(label)}</th>'
            for label, _, w in _header_spans(table.columns)]
        head.append("<tr>" + "".join(cells) + "</tr>")
    head.append("<tr>" + f"<th>{escape(table.row_header)}</th>"
                + "".join(f"<th>{escape(c.label)}</th>" for c in table.columns) + "</tr>")
    body = []
    for g in table.groups:
        if g.title:
            body.append(f'<tr class="group"><th colspan="{len(table.columns) + 1}">{escape(g.title)}</th></tr>')
        for r in g.rows:
            name = f' <span class="name">[{escape(r.method)}]</span>' if r.method not in ("", r.label) else ""
            body.append(f'<tr><th scope="row">{escape(r.label)}{name}</th>'
                        + "".join(_html_cell(c, r.cells.get(c.key), heat) for c in table.columns) + "</tr>")
    notes = [f"<li>{escape(t)}</li>" for t in table.details]
    notes += [f"<li><sup>{escape(m)}</sup> {escape(t)}</li>" for m, t in table.notes]
    notes += [f"<li>{escape(t)}</li>" for t in table.extra_notes]
    return (f'<figure class="table" id="{escape(table.name)}">\n<table>\n'
            f"<caption>{escape(table.caption)}</caption>\n"
            f"<thead>{''.join(head)}</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"
            + (f'<ul class="notes">{"".join(notes)}</ul>\n' if notes else "") + "</figure>")
