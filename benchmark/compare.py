"""Is one method better than another on this run, or is it the TEST sample? Paired statistics
from the saved scores of two methods on the same TEST samples:

- the DeLong test of the I-AUROC difference (`benchmark.metrics.delong_test`), once per seed
  that both methods have;
- the paired stratified bootstrap interval of the difference of their I-AUROCs averaged over
  those seeds (`benchmark.metrics.bootstrap_auroc_diff_ci`);

overall and per defect category (all normal TEST samples against the samples of one category,
as in the per-category tables). `bench compare RUN A B` prints them; `significance_table` is the
main table with each row's 95 % interval and a mark on the rows that differ significantly from
the proposed model (`bench show --ci`, `bench table --ci`). Pure functions of the results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.metrics import Undefined, bootstrap_auroc_ci, bootstrap_auroc_diff_ci, delong_test
from benchmark.tables.build import MODALITY_COLUMN, MethodRuns, RunData, _finish, _grouped, main_rows
from benchmark.tables.model import Cell, Column, Row, RowGroup, Table

ALPHA = 0.05
N_BOOT = 2000
BOOT_SEED = 0  # NOTE: fixed, so that a comparison printed twice is the same comparison
OVERALL = "all"
MARK = "†"
NORMAL = "Good"


# ---------------------------------------------------------------------------- paired scores
@dataclass
class TestScores:
    """One method's TEST scores, one row per seed, samples in a fixed order."""

    ids: list[str]
    labels: np.ndarray  # (N,)
    categories: np.ndarray  # (N,) object
    scores: dict[int, np.ndarray]  # seed -> (N,)


def test_scores(m: MethodRuns) -> TestScores:
    """The TEST rows of every seed of a method; every seed must hold the same samples."""
    ids = labels = cats = None
    scores = {}
    for u in m.units:
        rows = sorted((r for r in u.scores() if r.get("split", "TEST") == "TEST"), key=lambda r: r["id"])
        these = [r["id"] for r in rows]
        if ids is None:
            ids = these
            labels = np.array([int(r["label"]) for r in rows])
            cats = np.array([r["category"] for r in rows], dtype=object)
        elif these != ids:
            raise ValueError(f"{u.folder / 'scores.csv'}: TEST samples differ from those of "
                             f"{m.units[0].folder / 'scores.csv'} ({len(set(these) ^ set(ids))} differ)")
        scores[u.seed] = np.array([float(r["score"]) for r in rows])
    return TestScores(ids or [], labels, cats, scores)


@dataclass
class Paired:
    labels: np.ndarray
    categories: np.ndarray
    seeds: list[int]  # seeds both methods have
    a: np.ndarray  # (S, N)
    b: np.ndarray  # (S, N)


def paired(data: RunData, a: str, b: str) -> Paired:
    for name in (a, b):
        if name not in data.methods:
            raise ValueError(f"{data.run_dir}: no finished unit of method {name!r} "
                             f"(methods in this run: {', '.join(data.methods)})")
    sa, sb = test_scores(data.methods[a]), test_scores(data.methods[b])
    if sa.ids != sb.ids:
        raise ValueError(f"{data.run_dir}: {a} and {b} were not scored on the same TEST samples "
                         f"({len(set(sa.ids) ^ set(sb.ids))} differ); a paired test needs the same")
    seeds = sorted(set(sa.scores) & set(sb.scores))
    if not seeds:
        raise ValueError(f"{data.run_dir}: {a} (seeds {sorted(sa.scores)}) and {b} (seeds "
                         f"{sorted(sb.scores)}) have no seed in common")
    return Paired(sa.labels, sa.categories, seeds, np.stack([sa.scores[s] for s in seeds]),
                  np.stack([sb.scores[s] for s in seeds]))


# ---------------------------------------------------------------------------- the comparison
@dataclass
class ComparisonRow:
    category: str
    n_normal: int
    n_anomalous: int
    auroc_a: float | Undefined  # mean over the common seeds
    auroc_b: float | Undefined
    diff: float | Undefined  # a - b
    ci: tuple[float, float] | Undefined  # paired bootstrap interval of diff
    z: list[float] = field(default_factory=list)  # per seed
    p: list[float] = field(default_factory=list)  # per seed (two-sided)
    undefined: str = ""

    def significant(self, alpha: float = ALPHA) -> bool:
        """p < alpha in every seed, with the difference of the same sign in all of them."""
        return bool(self.p) and max(self.p) < alpha and len({math.copysign(1, z) for z in self.z}) == 1


@dataclass
class Comparison:
    run_dir: Path
    a: str
    b: str
    label_a: str
    label_b: str
    seeds: list[int]
    rows: list[ComparisonRow]
    alpha: float
    n_boot: int
    provenance: str

    def to_json(self) -> dict:
        def val(v):
            return {"value": None, "reason": v.reason} if isinstance(v, Undefined) else v

        return {"run": str(self.run_dir), "a": self.a, "b": self.b, "seeds": self.seeds,
                "alpha": self.alpha, "n_boot": self.n_boot,
                "rows": [{"category": r.category, "n_normal": r.n_normal, "n_anomalous": r.n_anomalous,
                          "auroc_a": val(r.auroc_a), "auroc_b": val(r.auroc_b), "diff": val(r.diff),
                          "ci95": val(r.ci if isinstance(r.ci, Undefined) else list(r.ci)),
                          "delong_z": r.z, "delong_p": r.p, "significant": r.significant(self.alpha)}
                         for r in self.rows]}

    def render(self, style: str = "plain") -> str:
        from benchmark.tables.render import to_text

        return to_text(comparison_table(self), style)


def _row(category: str, idx: np.ndarray, pair: Paired, n_boot: int) -> ComparisonRow:
    y = pair.labels[idx]
    n_anom = int(y.sum())
    tests = [delong_test(y, pair.a[i, idx], pair.b[i, idx]) for i in range(len(pair.seeds))]
    row = ComparisonRow(category, len(y) - n_anom, n_anom, Undefined(""), Undefined(""),
                        Undefined(""), Undefined(""))
    if isinstance(tests[0]["diff"], Undefined):
        reason = tests[0]["diff"].reason
        row.auroc_a = row.auroc_b = row.diff = row.ci = Undefined(reason)
        row.undefined = reason
        return row
    row.auroc_a = float(np.mean([t["auroc_a"] for t in tests]))
    row.auroc_b = float(np.mean([t["auroc_b"] for t in tests]))
    row.diff = row.auroc_a - row.auroc_b
    row.ci = bootstrap_auroc_diff_ci(y, pair.a[:, idx], pair.b[:, idx], n_boot=n_boot, seed=BOOT_SEED)
    row.z = [t["z"] for t in tests]
    row.p = [t["p_value"] for t in tests]
    return row


def compare(data: RunData, a: str, b: str, *, alpha: float = ALPHA, n_boot: int = N_BOOT) -> Comparison:
    """A against B on the seeds both have: overall, then each defect category of the TEST split."""
    pair = paired(data, a, b)
    rows = [_row(OVERALL, np.arange(len(pair.labels)), pair, n_boot)]
    normal = np.flatnonzero(pair.categories == NORMAL)
    codes = data.category_codes()
    defects = sorted(set(pair.categories.tolist()) - {NORMAL}, key=lambda c: (codes.get(c, 99), c))
    for c in defects:
        rows.append(_row(c, np.concatenate([normal, np.flatnonzero(pair.categories == c)]), pair, n_boot))
    return Comparison(data.run_dir, a, b, data.methods[a].label, data.methods[b].label, pair.seeds,
                      rows, alpha, n_boot, data.provenance())


# ---------------------------------------------------------------------------- rendering
def fmt_p(p: float) -> str:
    """Three decimals, small values in scientific notation.

    >>> fmt_p(0.0123), fmt_p(0.00043), fmt_p(3e-7), fmt_p(1.0)
    ('0.012', '4.3e-04', '<1e-4', '1.000')
    """
    if p < 1e-4:
        return "<1e-4"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _fmt(v, scale: float = 1.0, digits: int = 3) -> str:
    return "–" if isinstance(v, Undefined) else f"{scale * v:.{digits}f}"


def _fmt_ci(ci, scale: float = 1.0, digits: int = 3) -> str:
    if isinstance(ci, Undefined):
        return "–"
    return f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def comparison_table(c: Comparison) -> Table:
    cols = [Column(k, label, kind="text", ranked=False, align="r") for k, label in (
        ("n", "normal / anom."), ("a", "A"), ("b", "B"), ("diff", "Δ = A − B"),
        ("ci", "95 % CI of Δ"), ("z", "DeLong z"), ("p", "DeLong p"), ("sig", "sig."))]
    rows = []
    for r in c.rows:
        cells = {"n": f"{r.n_normal} / {r.n_anomalous}", "a": _fmt(r.auroc_a), "b": _fmt(r.auroc_b),
                 "diff": _fmt(r.diff), "ci": _fmt_ci(r.ci),
                 "z": " / ".join(f"{z:.2f}" for z in r.z) or "–",
                 "p": " / ".join(fmt_p(p) for p in r.p) or "–",
                 "sig": "*" if r.significant(c.alpha) else ""}
        rows.append(Row(r.category if r.category == OVERALL else r.category.replace("_", " "),
                        {k: Cell(text=v, reason=(r.undefined or None) if k == "diff" else None)
                         for k, v in cells.items()}))
    seeds = ", ".join(map(str, c.seeds))
    table = Table(
        name="compare", title=f"A = {c.a} {c.label_a}  vs  B = {c.b} {c.label_b}",
        caption=(f"Paired comparison on the TEST split of {c.run_dir}, seed(s) {seeds} (both "
                 f"methods). I-AUROC (mean over the seeds); Δ = A − B; 95 % CI: paired stratified "
                 f"bootstrap of Δ over TEST samples ({c.n_boot} replicates); DeLong: paired test "
                 f"per seed, two-sided. * p < {c.alpha:g} in every seed, same sign. A category row "
                 f"holds all normal TEST samples and that category's; not corrected for multiple "
                 f"comparisons. {c.provenance}"),
        columns=cols, groups=[RowGroup("", rows)], row_header="Category")
    table.assign_notes()
    return table


# ---------------------------------------------------------------------------- the main table, with statistics
def reference_of(data: RunData, name: str) -> str | None:
    """The proposed model a row is compared with: the proposed method of its modality group, else
    the run's only proposed method."""
    proposed = [m for m in main_rows(data) if data.methods[m].role == "proposed"]
    group = data.methods[name].group
    same = [m for m in proposed if data.methods[m].group == group]
    if same:
        return same[0]
    return proposed[0] if len(proposed) == 1 else None


def significance_table(data: RunData, *, alpha: float = ALPHA, n_boot: int = N_BOOT) -> Table:
    names = main_rows(data)
    if not names:
        raise ValueError(f"{data.run_dir}: no method for the main table")
    scores = {m: test_scores(data.methods[m]) for m in names}

    def row(m: MethodRuns) -> Row:
        s = scores[m.name]
        ci = bootstrap_auroc_ci(s.labels, np.stack([s.scores[k] for k in sorted(s.scores)]),
                                n_boot=n_boot, seed=BOOT_SEED)
        cells = {MODALITY_COLUMN.key: Cell(text=m.modalities), "I-AUROC": m.overall("I-AUROC"),
                 "ci": Cell(text=_fmt_ci(ci, 100, 1)), "diff": Cell(text="–"), "p": Cell(text="–")}
        label = m.label
        ref = reference_of(data, m.name)
        if ref == m.name:
            cells["diff"] = Cell(text="reference")
        elif ref is not None:
            r = compare_overall(data, m.name, ref, n_boot)
            if not isinstance(r.diff, Undefined):
                cells["diff"] = Cell(text=f"{100 * r.diff:+.1f} {_fmt_ci(r.ci, 100, 1)}")
                cells["p"] = Cell(text=" / ".join(fmt_p(p) for p in r.p))
                if r.significant(alpha):
                    label = f"{label} {MARK}"
        return Row(label, cells, m.name)

    cols = [MODALITY_COLUMN, Column("I-AUROC", "I-AUROC"),
            Column("ci", "95 % CI", kind="text", ranked=False, align="r"),
            Column("diff", "Δ vs proposed [95 % CI]", kind="text", ranked=False, align="r"),
            Column("p", "DeLong p", kind="text", ranked=False, align="r")]
    return _finish(Table(
        name="significance", title="Main table with 95 % intervals", label="tab:significance",
        columns=cols, groups=_grouped(data, names, row),
        caption=(f"I-AUROC ×100 on the TEST split ({data.seeds_text(names)}) with its 95 % "
                 f"interval (stratified bootstrap over TEST samples of the mean over seeds, "
                 f"{n_boot} replicates), and the difference from the proposed model of the same "
                 f"modality group (else the run's only proposed model) with its paired bootstrap "
                 f"interval and the DeLong p of each seed both have. {MARK}: differs from that "
                 f"proposed model, DeLong p < {alpha:g} in "
                 f"every seed with the same sign (not corrected for multiple comparisons). "
                 f"{data.provenance()}")))


def compare_overall(data: RunData, a: str, b: str, n_boot: int = N_BOOT) -> ComparisonRow:
    pair = paired(data, a, b)
    return _row(OVERALL, np.arange(len(pair.labels)), pair, n_boot)
