"""Known answers: does each method detect what its inputs carry, and nothing else?

On a confound-free synthetic twin (`bench data synth --confounds none`: every category welded with
the same configurations and recorded in the same sessions) a defect shows only in the media of its
row of the twin's visibility table (`benchmark.data.synth.VISIBLE`: 05 Undercut only in the photos,
07 Lack of Fusion only in the video, ...). So for every method the answer is known before it runs:
a category that one of its media shows is *visible* to it and must be detected; a category that
none of them shows is *invisible* and must sit at chance. 12 Process-Result Mismatch (a normal
bead of another configuration) shows in no single medium and is left out: a method that reads both
process and result may find it, a result-only one may see a bead that is off for its recipe.

Judged from the raw TEST scores of a run (`scores.csv` of each seed), like with like at the level
the twin makes possible: a category's defects against the TEST normals of their own weld
configuration (weld type, steel, thickness), the I-AUROC of the seed-mean score over the pairs
within a configuration, with its 95 % interval (stratified bootstrap over recording sessions, the
seeds' scores resampled together; none below `MIN_CLUSTERS` sessions per class). The same weld type
is not enough here: a process model scores some configurations higher than others (Late Fusion
(V+A) scores every weld of one configuration ~1.5 above the rest), so a category compared with
normals of other configurations is "detected" by its configuration alone. The confound-free twin
has 8 TEST normals in every configuration for this (`NEUTRAL_TEST_NORMALS`; the quick shuffle left
0-5, and an unseen seed none in one configuration). Verdict per category: *detected* when the
interval lies above 0.5, *at chance* when it contains 0.5, *worse than chance* below it; per
method, the mean I-AUROC over its visible and over its invisible categories, and each side pooled
(its categories' defects together against the normals of their configurations, one interval): a
category has 12 TEST defects, too few for its interval to tell chance from a weak signal, while a
side's pool decides it. The mean is not a verdict: a method at chance on two invisible categories
(12 defects each against 32 normals) has a mean with a standard deviation of ~0.08. Pure function
of the results.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.sample import CATEGORY_CODES
from benchmark.data.synth import MODALITY_LETTER, VISIBLE

NORMAL = "Good"
UNDECIDED = ("Process_Result_Mismatch",)  # shown by no single medium (module docstring)
N_BOOT = 2000


def expectations(modalities) -> dict[str, bool]:
    """{defect category: visible to a method reading `modalities`} on the twin (UNDECIDED left out)."""
    letters = {MODALITY_LETTER[m] for m in modalities if m in MODALITY_LETTER}
    return {c: bool(letters & set(VISIBLE[code])) for c, code in CATEGORY_CODES.items()
            if c != NORMAL and c not in UNDECIDED}


@dataclass
class Verdict:
    category: str
    visible: bool
    auroc: float | None
    ci: tuple[float, float] | None
    n_normal: int
    n_anomalous: int

    @property
    def verdict(self) -> str:
        if self.ci is None:
            return "undecided (no interval)"
        lo, hi = self.ci
        return "detected" if lo > 0.5 else "worse than chance" if hi < 0.5 else "at chance"

    @property
    def as_expected(self) -> bool:
        return self.verdict == ("detected" if self.visible else "at chance")


@dataclass
class MethodAnswer:
    method: str
    modalities: list[str]
    seeds: list[int]
    verdicts: list[Verdict]
    pooled: dict[bool, Verdict]  # visible / invisible: every category of the side together

    def mean(self, visible: bool) -> float | None:
        values = [v.auroc for v in self.verdicts if v.visible == visible and v.auroc is not None]
        return float(np.mean(values)) if values else None


def check_method(units, n_boot: int = N_BOOT) -> MethodAnswer:
    """The known answers of one method's units (one per seed, the same TEST samples)."""
    from benchmark.metrics import bootstrap_auroc_ci, stratified_auroc

    rows = {u.seed: sorted(u.scores(), key=lambda r: r["id"]) for u in units}
    first = next(iter(rows.values()))
    cats = np.array([r["category"] for r in first], dtype=object)
    configs = np.array([r["config"] for r in first], dtype=object)
    sessions = np.array([r.get("session") or r.get("folder") or r["id"] for r in first], dtype=object)
    scores = np.stack([[float(r["score"]) for r in rs] for rs in rows.values()])  # (S, N)
    modalities = units[0].config.get("modalities", [])

    def verdict(name: str, categories: list[str], visible: bool) -> Verdict:
        mine = np.isin(cats, categories)
        keep = mine | np.isin(cats, [NORMAL]) & np.isin(configs, np.unique(configs[mine]))
        y = mine[keep].astype(int)
        auroc = stratified_auroc(y, scores[:, keep].mean(axis=0), configs[keep])
        ci = bootstrap_auroc_ci(y, scores[:, keep], n_boot=n_boot, clusters=sessions[keep],
                                strata=configs[keep])
        return Verdict(name, visible, auroc if isinstance(auroc, float) else None,
                       ci if isinstance(ci, tuple) else None, int((y == 0).sum()), int(y.sum()))

    shown = {c: visible for c, visible in expectations(modalities).items() if (cats == c).any()}
    verdicts = [verdict(c, [c], visible) for c, visible in shown.items()]
    pooled = {side: verdict("visible" if side else "invisible", cs, side) for side in (True, False)
              if (cs := [c for c, visible in shown.items() if visible == side])}
    return MethodAnswer(units[0].method, list(modalities), sorted(rows), verdicts, pooled)


def check_run(run_dir: Path, methods=None, n_boot: int = N_BOOT) -> list[MethodAnswer]:
    """Known answers of every (or the named) method of a run on a confound-free twin."""
    from benchmark.results import store as R

    units = R.load_run(run_dir)
    by_method: dict[str, list] = {}
    for u in units:
        if methods is None or u.method in methods:
            by_method.setdefault(u.method, []).append(u)
    if not by_method:
        raise FileNotFoundError(f"{run_dir}: no finished unit of {', '.join(methods or ['any method'])}")
    return [check_method(us, n_boot) for _, us in sorted(by_method.items())]


def twin_confounds(run_dir: Path) -> str:
    """The confounds of the synthetic twin a run was made on ("real", "none"), or what else its
    dataset is."""
    from benchmark.results import store as R
    from benchmark.run.plan import SYNTHETIC_MARKER

    root = R.run_info(run_dir).get("dataset", {}).get("root")
    marker = Path(root) / SYNTHETIC_MARKER if root else None
    if marker is None or not marker.is_file():
        return "not a synthetic twin" if root else "no dataset recorded in run.json"
    return json.loads(marker.read_text()).get("confounds", "real")


def to_json(answers: list[MethodAnswer]) -> list[dict]:
    def pooled(a: MethodAnswer, side: bool) -> dict | None:
        v = a.pooled.get(side)
        return None if v is None else {"auroc": v.auroc, "ci95": None if v.ci is None else list(v.ci),
                                       "verdict": v.verdict, "as_expected": v.as_expected}

    return [{"method": a.method, "modalities": a.modalities, "seeds": a.seeds,
             "mean_visible": a.mean(True), "mean_invisible": a.mean(False),
             "pooled_visible": pooled(a, True), "pooled_invisible": pooled(a, False),
             "categories": [{"category": v.category, "visible": v.visible, "auroc": v.auroc,
                             "ci95": None if v.ci is None else list(v.ci), "n_normal": v.n_normal,
                             "n_anomalous": v.n_anomalous, "verdict": v.verdict,
                             "as_expected": v.as_expected} for v in a.verdicts]} for a in answers]


def render(answers: list[MethodAnswer]) -> str:
    """One block per method: each category's I-AUROC, interval, expectation and verdict."""
    from tabulate import tabulate

    out = []
    for a in answers:
        def row(name: str, v: Verdict) -> list[str]:
            return [name, "visible" if v.visible else "invisible",
                    "–" if v.auroc is None else f"{v.auroc:.3f}",
                    "–" if v.ci is None else f"[{v.ci[0]:.3f}, {v.ci[1]:.3f}]",
                    f"{v.n_normal} / {v.n_anomalous}", v.verdict, "" if v.as_expected else "unexpected"]

        rows = [row(f"{CATEGORY_CODES[v.category]:02d} {v.category}", v) for v in a.verdicts]
        rows += [row(f"all {v.category} (pooled)", v) for _, v in sorted(a.pooled.items(), reverse=True)]
        fmt = lambda x: "–" if x is None else f"{x:.3f}"
        out.append(f"{a.method} ({'+'.join(a.modalities)}; seeds {', '.join(map(str, a.seeds))}): "
                   f"mean I-AUROC {fmt(a.mean(True))} over the visible categories, "
                   f"{fmt(a.mean(False))} over the invisible ones\n"
                   + tabulate(rows, headers=["category", "expected", "I-AUROC", "95 % CI",
                                             "normal / anom.", "verdict", ""],
                              tablefmt="simple", disable_numparse=True))
    return "\n\n".join(out)
