"""Is one method better than another on this run, or is it the TEST sample? Paired statistics
from the saved scores of two methods on the same TEST samples:

- the DeLong test of the I-AUROC difference (`benchmark.metrics.delong_test`), once per seed
  that both methods have, with Obuchowski's clustered variance over recording sessions;
- the paired stratified bootstrap interval of the difference of their I-AUROCs averaged over
  those seeds (`benchmark.metrics.bootstrap_auroc_diff_ci`), resampling sessions;

overall and per defect category (like with like, as in the per-category tables: a category's
defects against the normal TEST welds of their own weld type, the I-AUROC over the pairs within a
weld type), on the whole TEST split or on one of its matched subsets
(`--subset`). Welds of one recording session (the day of the run id, else the folder) share its
lighting, pose and set-up and are not independent, so every interval and test treats a session
as one draw (results written before sessions were recorded fall back to folders, then to single
welds, and the caption says so); with fewer than `MIN_CLUSTERS` sessions in a class a row has
no interval and no test, and says why. `bench compare RUN A B` prints them; `significance_table` is the
main table with each row's 95 % interval and a mark on the rows that differ significantly from
the proposed model (`bench show --ci`, `bench table --ci`). Pure functions of the results.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.metrics import (Undefined, bootstrap_auroc_ci, bootstrap_auroc_diff_ci, delong_test,
                               like_with_like)
from benchmark.results.tables.build import (MODALITY_COLUMN, MethodRuns, RunData, _finish, _grouped,
                                            main_rows)
from benchmark.results.tables.build import REFERENCE, SUBSET_TEXT
from benchmark.results.tables.model import Cell, Column, Row, RowGroup, Table

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
    clusters: np.ndarray  # (N,) object: the recording session of each weld (else folder, else id)
    weld_types: np.ndarray | None  # (N,) object; None for results written before they were recorded
    subsets: dict[str, np.ndarray]  # subset name -> (N,) bool, as the runner recorded them

    @property
    def clustered(self) -> bool:
        """False for results written before folders were recorded: every weld its own cluster."""
        return not np.array_equal(self.clusters, np.asarray(self.ids, dtype=object))


def test_scores(m: MethodRuns) -> TestScores:
    """The TEST rows of every seed of a method; every seed must hold the same samples."""
    ids = labels = cats = clusters = weld_types = None
    subsets: dict[str, np.ndarray] = {}
    scores = {}
    for u in m.units:
        rows = sorted((r for r in u.scores() if r.get("split", "TEST") == "TEST"), key=lambda r: r["id"])
        these = [r["id"] for r in rows]
        if ids is None:
            ids = these
            labels = np.array([int(r["label"]) for r in rows])
            cats = np.array([r["category"] for r in rows], dtype=object)
            clusters = np.array([r.get("session") or r.get("folder") or r["id"] for r in rows], dtype=object)
            if rows and _recorded(rows, "weld_type"):
                weld_types = np.array([r["weld_type"] for r in rows], dtype=object)
            subsets = {k: np.array([r[k] == "1" for r in rows]) for k in SUBSET_TEXT
                       if rows and _recorded(rows, k)}
        elif these != ids:
            raise ValueError(f"{u.folder / 'scores.csv'}: TEST samples differ from those of "
                             f"{m.units[0].folder / 'scores.csv'} ({len(set(these) ^ set(ids))} differ)")
        scores[u.seed] = np.array([float(r["score"]) for r in rows])
    return TestScores(ids or [], labels, cats, scores, clusters, weld_types, subsets)


def _recorded(rows: list[dict], key: str) -> bool:
    return all(r.get(key) not in (None, "") for r in rows)


@dataclass
class Paired:
    labels: np.ndarray
    categories: np.ndarray
    seeds: list[int]  # seeds both methods have
    a: np.ndarray  # (S, N)
    b: np.ndarray  # (S, N)
    clusters: np.ndarray  # (N,)
    clustered: bool  # False: the scores recorded no folders, every weld is its own cluster
    weld_types: np.ndarray | None  # (N,); None: not recorded, categories against every normal


def paired(data: RunData, a: str, b: str, subset: str | None = None) -> Paired:
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
    keep = np.ones(len(sa.ids), dtype=bool)
    if subset is not None:
        if subset not in sa.subsets:
            raise ValueError(f"{data.run_dir}: the scores of {a} record no subset {subset!r} "
                             f"(recorded: {', '.join(sa.subsets) or 'none'}); rerun with --rerun")
        keep = sa.subsets[subset]
    return Paired(sa.labels[keep], sa.categories[keep], seeds,
                  np.stack([sa.scores[s][keep] for s in seeds]),
                  np.stack([sb.scores[s][keep] for s in seeds]), sa.clusters[keep], sa.clustered,
                  None if sa.weld_types is None else sa.weld_types[keep])


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
    subset: str | None = None
    clustered: bool = True
    like_with_like: bool = True  # False: the scores recorded no weld types

    def to_json(self) -> dict:
        def val(v):
            return {"value": None, "reason": v.reason} if isinstance(v, Undefined) else v

        return {"run": str(self.run_dir), "a": self.a, "b": self.b, "seeds": self.seeds,
                "alpha": self.alpha, "n_boot": self.n_boot, "subset": self.subset or "all",
                "resampled": "sessions" if self.clustered else "welds",
                "category_normals": "same weld type" if self.like_with_like else "all",
                "rows": [{"category": r.category, "n_normal": r.n_normal, "n_anomalous": r.n_anomalous,
                          "auroc_a": val(r.auroc_a), "auroc_b": val(r.auroc_b), "diff": val(r.diff),
                          "ci95": val(r.ci if isinstance(r.ci, Undefined) else list(r.ci)),
                          "delong_z": r.z, "delong_p": r.p, "significant": r.significant(self.alpha)}
                         for r in self.rows]}

    def render(self, style: str = "plain") -> str:
        from benchmark.results.tables.render import to_text

        return to_text(comparison_table(self), style)


def _row(category: str, idx: np.ndarray, pair: Paired, n_boot: int,
         within_weld_type: bool = False) -> ComparisonRow:
    """One row: the samples ``idx``; ``within_weld_type``: only the pairs within a weld type count."""
    y = pair.labels[idx]
    n_anom = int(y.sum())
    seeds = range(len(pair.seeds))
    strata = pair.weld_types[idx] if within_weld_type and pair.weld_types is not None else None
    tests = [delong_test(y, pair.a[i, idx], pair.b[i, idx], strata=strata) for i in seeds]
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
    clusters = pair.clusters[idx] if pair.clustered else None  # None: DeLong's own variance
    row.ci = bootstrap_auroc_diff_ci(y, pair.a[:, idx], pair.b[:, idx], n_boot=n_boot, seed=BOOT_SEED,
                                     clusters=clusters, strata=strata)
    if clusters is not None:
        tests = [delong_test(y, pair.a[i, idx], pair.b[i, idx], clusters=clusters, strata=strata)
                 for i in seeds]
        if isinstance(tests[0]["z"], Undefined):  # too few sessions to test: no z, no p
            row.undefined = tests[0]["z"].reason
            return row
    row.z = [t["z"] for t in tests]
    row.p = [t["p_value"] for t in tests]
    return row


def compare(data: RunData, a: str, b: str, *, alpha: float = ALPHA, n_boot: int = N_BOOT,
            subset: str | None = None) -> Comparison:
    """A against B on the seeds both have: overall, then each defect category of the TEST split
    (or of one of its matched subsets)."""
    pair = paired(data, a, b, subset)
    rows = [_row(OVERALL, np.arange(len(pair.labels)), pair, n_boot)]
    codes = data.category_codes()
    defects = sorted(set(pair.categories.tolist()) - {NORMAL}, key=lambda c: (codes.get(c, 99), c))
    for c in defects:
        idx = np.flatnonzero(like_with_like(pair.categories, pair.weld_types, c, NORMAL))
        rows.append(_row(c, idx, pair, n_boot, within_weld_type=True))
    return Comparison(data.run_dir, a, b, data.methods[a].label, data.methods[b].label, pair.seeds,
                      rows, alpha, n_boot, data.provenance(), subset, pair.clustered,
                      pair.weld_types is not None)


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
    where = f"the {c.subset.replace('_', '-')} subset of the TEST split" if c.subset else "the TEST split"
    unit = "recording sessions" if c.clustered else "TEST welds (no sessions recorded)"
    variance = " with Obuchowski's clustered variance over the same sessions" if c.clustered else ""
    table = Table(
        name="compare", title=f"A = {c.a} {c.label_a}  vs  B = {c.b} {c.label_b}",
        caption=(f"Paired comparison on {where} of {c.run_dir}, seed(s) {seeds} (both "
                 f"methods). I-AUROC (mean over the seeds); Δ = A − B; 95 % CI: paired stratified "
                 f"bootstrap of Δ over {unit} ({c.n_boot} replicates); DeLong: paired test "
                 f"per seed{variance}, two-sided. "
                 f"* p < {c.alpha:g} in every seed, same sign. {_category_rows_text(c)} Not "
                 f"corrected for multiple comparisons. {c.provenance}"),
        columns=cols, groups=[RowGroup("", rows)], row_header="Category")
    table.assign_notes()
    return table


def _category_rows_text(c: Comparison) -> str:
    if not c.like_with_like:
        return ("A category row holds all normal TEST samples and that category's (these results "
                "record no weld types).")
    return ("A category row compares that category's defects with the normal TEST welds of their "
            "own weld type (the I-AUROC over the pairs within a weld type).")


# ---------------------------------------------------------------------------- the main table, with statistics
def reference_of(data: RunData, name: str) -> str | None:
    """The proposed model a row is compared with: the proposed method of its modality group, else
    the run's only proposed method."""
    if data.methods[name].role == REFERENCE:
        return None  # a shortcut floor is a reference, not a contender
    proposed = [m for m in main_rows(data) if data.methods[m].role == "proposed"]
    group = data.methods[name].group
    same = [m for m in proposed if data.methods[m].group == group]
    if same:
        return same[0]
    return proposed[0] if len(proposed) == 1 else None


def significance_table(data: RunData, *, alpha: float = ALPHA, n_boot: int = N_BOOT,
                       subset: str | None = None) -> Table:
    """The main table's I-AUROC with intervals and tests, on the TEST split or one of its matched
    subsets."""
    names = main_rows(data)
    if not names:
        raise ValueError(f"{data.run_dir}: no method for the main table")
    scores = {m: test_scores(data.methods[m]) for m in names}

    def row(m: MethodRuns) -> Row:
        s = scores[m.name]
        keep = s.subsets.get(subset, np.ones(len(s.ids), dtype=bool)) if subset else slice(None)
        auroc = m.overall(f"{subset}/I-AUROC" if subset else "I-AUROC")
        ci = bootstrap_auroc_ci(s.labels[keep], np.stack([s.scores[k][keep] for k in sorted(s.scores)]),
                                n_boot=n_boot, seed=BOOT_SEED, clusters=s.clusters[keep] if s.clustered else None)
        cells = {MODALITY_COLUMN.key: Cell(text=m.modalities), "I-AUROC": auroc,
                 "ci": Cell(text=_fmt_ci(ci, 100, 1) if auroc.defined else "–"),
                 "diff": Cell(text="–"), "p": Cell(text="–")}
        label = m.label
        ref = reference_of(data, m.name)
        if ref == m.name:
            cells["diff"] = Cell(text="reference")
        elif ref is not None:
            r = compare_overall(data, m.name, ref, n_boot, subset)
            if not isinstance(r.diff, Undefined) and auroc.defined:
                cells["diff"] = Cell(text=f"{100 * r.diff:+.1f} {_fmt_ci(r.ci, 100, 1)}")
                cells["p"] = Cell(text=" / ".join(fmt_p(p) for p in r.p))
                if r.significant(alpha):
                    label = f"{label} {MARK}"
        return Row(label, cells, m.name)

    cols = [MODALITY_COLUMN, Column("I-AUROC", "I-AUROC"),
            Column("ci", "95 % CI", kind="text", ranked=False, align="r"),
            Column("diff", "Δ vs proposed [95 % CI]", kind="text", ranked=False, align="r"),
            Column("p", "DeLong p", kind="text", ranked=False, align="r")]
    clustered = all(s.clustered for s in scores.values())
    unit = "recording sessions (cluster bootstrap)" if clustered else "TEST welds (no sessions recorded)"
    test = "clustered (Obuchowski) DeLong" if clustered else "DeLong"
    where = (f"the {subset.replace('_', '-')} subset of the TEST split (defects that share "
             f"{SUBSET_TEXT[subset]} with TRAIN normals, all TEST normals)" if subset else "the TEST split")
    return _finish(Table(
        name="significance" + (f"_{subset}" if subset else ""),
        title="Main table with 95 % intervals" + (f" ({subset.replace('_', '-')})" if subset else ""),
        label="tab:significance" + (f"-{subset.replace('_', '-')}" if subset else ""),
        columns=cols, groups=_grouped(data, names, row), wide=True,
        caption=(f"I-AUROC ×100 on {where} ({data.seeds_text(names)}) with its 95 % "
                 f"interval, and the difference from the proposed model of the same modality "
                 f"group with its paired interval and DeLong p. {MARK}: DeLong p < {alpha:g} in "
                 f"every seed with the same sign (not corrected for multiple comparisons). "
                 f"{data.provenance()}"),
        details=[f"Intervals: stratified bootstrap over {unit} of the mean over seeds, {n_boot} "
                 f"replicates; the difference is taken from the proposed model of the row's "
                 f"modality group (else the run's only proposed model), with its paired bootstrap "
                 f"interval and the {test} p of each seed both have."]))


def compare_overall(data: RunData, a: str, b: str, n_boot: int = N_BOOT,
                    subset: str | None = None) -> ComparisonRow:
    pair = paired(data, a, b, subset)
    return _row(OVERALL, np.arange(len(pair.labels)), pair, n_boot)
