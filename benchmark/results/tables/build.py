"""From a run folder to `Table`s: which methods go where, in which order, with which caption.

Tables are pure functions of `results/<run>/` (DESIGN.md: tables read only results). Nothing
here knows how a number was computed; it only selects, aggregates over seeds and labels.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmark.metrics import MIN_CLUSTERS, MIN_SUBSET_ANOMALOUS
from benchmark.results import store as R
from benchmark.results.tables.model import Cell, Column, Row, RowGroup, Table, summarise

MODALITY_LETTERS = {"video": "V", "audio": "A", "sensor": "S", "image": "I", "setpoints": "R",
                    "session": "D"}
MAIN_ROLES = ("proposed", "baseline", "reference")  # declared roles whose rows make the main table
REFERENCE = "reference"  # the role of the shortcut floors: shown, never ranked

AUPRO = "P-AUPRO"
MATCHED = "recipe_matched"  # the TEST subset whose defects share a recipe with TRAIN normals
# the confound-free TEST subset: defects that share recipe and recording session with TRAIN normals
CONFOUND_FREE = "both_matched"
SUBSET_TEXT = {"recipe_matched": "a recipe", "session_matched": "a recording day",
               "both_matched": "both recipe and recording day"}
MAIN_COLUMNS = (
    Column("I-AUROC", "I-AUROC"),
    Column(f"{MATCHED}/I-AUROC", "I-AUROC (matched)"),
    Column(f"{CONFOUND_FREE}/I-AUROC", "I-AUROC (conf.-free)"),
    Column("I-AP", "I-AP"),
    Column("I-F1max", "I-F1max"),
    Column("P-AUPRO@30%", "@30%", span=AUPRO),
    Column("P-AUPRO@1%", "@1%", span=AUPRO),
)
MODALITY_COLUMN = Column("modalities", "Mod.", kind="text", ranked=False, align="l")
PIXEL_PREFIX = "P-"


def _natural(text: str) -> tuple:
    """'C.10' after 'C.9': digit runs compare as numbers."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def method_order(config: dict) -> tuple:
    """By group letter; inside a group the baselines by row code, then the rows without a code (a
    plugin that declares none, proposed or not), then the proposed rows (C.N stays last)."""
    code = config.get("row_code") or ""
    return (config.get("group_letter", "~"), config.get("role") == "proposed" and bool(code),
            _natural(code or "~"), config.get("method", ""))


# ---------------------------------------------------------------------------- one method's seeds
@dataclass
class MethodRuns:
    name: str
    units: list[R.UnitResult]

    @property
    def config(self) -> dict:
        return self.units[0].config

    @property
    def group(self) -> str:
        return self.config.get("group", "?")

    @property
    def group_title(self) -> str:
        return self.config.get("group_title") or self.group

    @property
    def role(self) -> str:
        return self.config.get("role", "baseline")

    @property
    def family(self) -> str:
        return self.config.get("family") or self.name

    @property
    def display_name(self) -> str:
        return self.config.get("display_name") or self.name

    @property
    def row_code(self) -> str:
        return self.config.get("row_code") or ""

    @property
    def label(self) -> str:
        """The row label of every output: "(C.1) Late Fusion (A+B)"."""
        return f"({self.row_code}) {self.display_name}" if self.row_code else self.display_name

    @property
    def modalities(self) -> str:
        mods = self.config.get("modalities", [])
        return "+".join(MODALITY_LETTERS.get(m, m) for m in mods) or "?"

    @property
    def seeds(self) -> list[int]:
        return [u.seed for u in self.units]

    def _missing_reasons(self, key: str) -> list[str | None]:
        if key.startswith(PIXEL_PREFIX):
            return [u.metrics.get("pixel_note") or "no pixel metrics in this result"
                    for u in self.units]
        return [None] * len(self.units)

    def overall(self, key: str) -> Cell:
        """A metric over the whole TEST split, or over a subset ("recipe_matched/I-AUROC")."""
        subset, _, metric = key.rpartition("/")
        if subset:
            return self.subset(subset, metric)
        return summarise([u.metrics.get("overall", {}).get(key) for u in self.units],
                         self._missing_reasons(key))

    def subset(self, subset: str, key: str, category: str | None = None) -> Cell:
        """A metric on a TEST subset (overall or one category's), as the runner recorded it."""
        name = subset.replace("_", "-")
        values, reasons = [], []
        for u in self.units:
            block = u.metrics.get("subsets", {}).get(subset)
            reason = f"no {name} subset in this result" if block is None else None
            if block is not None and category is not None:
                block = {"overall": block.get("per_category", {}).get(category)}
                reason = None if block["overall"] is not None else f"no {name} defect of this category"
            block = (block or {}).get("overall")
            values.append(None if block is None else block.get(key))
            reasons.append(reason)
        return summarise(values, reasons)

    def val_queries(self) -> Cell:
        return summarise([u.config.get("selection", {}).get("val_queries") for u in self.units],
                         ["not recorded"] * len(self.units))

    def category(self, category: str, key: str, blocks: str = "per_category") -> Cell:
        """A metric of one defect category: like with like (`per_category`), or against every
        normal (`per_category_all_normals`, image metrics only)."""
        vals = []
        for u in self.units:
            block = u.metrics.get(blocks, {}).get(category)
            vals.append(None if block is None else block.get(key))
        reasons = [r if (u.metrics.get(blocks, {}).get(category) is not None)
                   else f"category {category} not in this run's TEST set" if blocks == "per_category"
                   else "this result compares no category with every normal"
                   for u, r in zip(self.units, self._missing_reasons(key))]
        return summarise(vals, reasons)

    def config_metric(self, axis: str, value: str, key: str) -> Cell:
        """A metric on the TEST samples of one weld-configuration value (e.g. axis "steel")."""
        blocks = [u.metrics.get("per_config", {}).get(axis, {}).get(value) for u in self.units]
        return summarise([None if b is None else b.get(key) for b in blocks],
                         [f"no TEST sample with {axis} {value}"] * len(self.units))

    def efficiency(self, key: str) -> Cell:
        return summarise([u.efficiency.get(key) for u in self.units],
                         ["not recorded"] * len(self.units))


@dataclass
class RunData:
    run_dir: Path
    methods: dict[str, MethodRuns]
    info: dict = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> "RunData":
        units = R.load_run(run_dir)
        if not units:
            raise FileNotFoundError(f"{run_dir}: no finished (method, seed) unit in this run folder")
        by_method: dict[str, list[R.UnitResult]] = {}
        for u in units:
            by_method.setdefault(u.method, []).append(u)
        _refuse_mixed_settings(run_dir, units)
        ordered = sorted(by_method, key=lambda m: method_order({"method": m, **by_method[m][0].config}))
        return cls(Path(run_dir), {m: MethodRuns(m, by_method[m]) for m in ordered}, R.run_info(run_dir))

    def all_units(self) -> list[R.UnitResult]:
        return [u for m in self.methods.values() for u in m.units]

    def selection(self) -> dict:
        """The run's selection policy (every unit shares it: mixed settings are refused)."""
        return self.all_units()[0].config.get("selection", {})

    def selection_text(self) -> str:
        sel = self.selection()
        if sel.get("policy") == "val":
            return (f"Selection 'val': at most K={sel.get('budget')} VAL I-AUROC queries per method "
                    f"(the column VAL q. gives each method's count).")
        if sel.get("policy") == "last":
            return ("Selection 'last': every method keeps its final state and fuses scores with "
                    "equal weights; no VAL label is read.")
        return "Selection policy not recorded."

    def subset_counts(self, subset: str) -> dict | None:
        """{"normal", "anomalous", ...} of a TEST subset (from any unit: all share the TEST set)."""
        return next((u.metrics["subsets"][subset]["counts"] for u in self.all_units()
                     if subset in u.metrics.get("subsets", {})), None)

    def pixel_counts(self) -> dict | None:
        """The welds the pixel metrics rest on, when not every TEST defect has a mask (else None:
        they rest on the whole TEST split); from any unit: all share the TEST set and its masks."""
        counts = next((u.metrics["counts"]["pixel"] for u in self.all_units()
                       if "pixel" in u.metrics.get("counts", {})), None)
        return counts if counts and counts["anomalous_without_mask"] else None

    def pixel_text(self, per_category: bool = False) -> str:
        """On how many TEST defects the pixel metrics rest, when only some have masks."""
        counts = self.pixel_counts()
        if counts is None:
            return ""
        total = counts["anomalous"] + counts["anomalous_without_mask"]
        text = (f"{AUPRO}: on the {counts['anomalous']} of {total} TEST defects that have pixel "
                f"masks, against the {counts['normal']} normal TEST welds (anomaly-free by "
                f"definition); a defect without a mask has no pixel truth and is left out.")
        if per_category:
            totals = self.all_units()[0].metrics["counts"]["per_category"]  # the TEST split's
            text += " Defects with masks per category: " + ", ".join(
                f"{self.code(c)} {counts['per_category'][c]} of {totals.get(c, '?')}"
                for c in self.categories() if c in counts["per_category"]) + "."
        return text

    def category_normals_text(self, all_normals: bool = False) -> str:
        """Which normal TEST welds a category's defects are compared with."""
        like = any("per_category_normal" in u.metrics.get("counts", {}) for u in self.all_units())
        if all_normals or not like:
            return ("every normal TEST weld against the defects of one category" +
                    ("" if like else " (these results record no weld types)"))
        return ("the defects of one category against the normal TEST welds of their own weld type "
                "(like with like: some categories exist on fillet joints only, others on non-fillet "
                "ones; a category of both types counts the pairs within a weld type)")

    def matched_text(self) -> str:
        """How large the recipe-matched and confound-free subsets are."""
        counts, free = self.subset_counts(MATCHED), self.subset_counts(CONFOUND_FREE)
        text = []
        if counts is not None:
            text.append(f"I-AUROC (matched): on the TEST defects welded with a recipe that TRAIN "
                        f"normals also used ({counts['anomalous']}) against all TEST normals "
                        f"({counts['normal']}); there the recipe does not give the answer.")
        if free is not None:
            text.append(f"I-AUROC (conf.-free): on the {free['anomalous']} TEST defects that share "
                        f"both recipe and recording day with TRAIN normals (a dash below "
                        f"{MIN_SUBSET_ANOMALOUS}); there neither confound gives the answer.")
        return " ".join(text)

    def interval_text(self) -> str:
        """What the run's intervals resample, and how many sessions each class holds."""
        clustered = any("I-AUROC-CI95-weld" in u.metrics.get("overall", {}) for u in self.all_units())
        if not clustered:
            return "Intervals resample welds (this run recorded no sessions)."
        counts = next((u.metrics["counts"]["clusters"] for u in self.all_units()
                       if "clusters" in u.metrics.get("counts", {})), None)
        if counts is None:  # results written before sessions were the clusters
            return ("Intervals resample recording folders (cluster bootstrap), since welds of one "
                    "folder share a session.")
        return (f"Intervals resample recording sessions (cluster bootstrap over the days: "
                f"{counts['normal']} with normal and {counts['anomalous']} with defective TEST welds), "
                f"since welds of one session share its set-up; none with fewer than {MIN_CLUSTERS} "
                f"sessions in a class.")

    def category_codes(self) -> dict[str, int]:
        """Category name -> code, as the runner recorded them with the results."""
        return {k: v for u in self.all_units() for k, v in u.config.get("categories", {}).items()}

    def categories(self) -> list[str]:
        codes = self.category_codes()
        names = {c for u in self.all_units() for c in u.metrics.get("per_category", {})}
        return sorted(names, key=lambda c: (codes.get(c, 99), c))

    def code(self, category: str) -> str:
        codes = self.category_codes()
        return f"{codes[category]:02d}" if category in codes else category

    # ------------------------------------------------------------------ provenance for captions
    def profiles(self) -> list[str]:
        return sorted({u.config.get("profile", {}).get("name", "?") for u in self.all_units()})

    def presets(self) -> list[str]:
        return sorted({u.config.get("profile", {}).get("preset", "?") for u in self.all_units()})

    def synthetic(self) -> bool:
        return any(u.config.get("synthetic") for u in self.all_units()) or bool(
            self.info.get("dataset", {}).get("synthetic"))

    def is_weld4m_result(self) -> bool:
        return not self.synthetic() and self.presets() == ["pretrained"]

    def provenance(self) -> str:
        """For every caption: where the numbers come from, so a quick/synthetic table is never
        read as Weld-4M, and what the run lacks (planned units, excluded samples)."""
        return " ".join(filter(None, [self.source_text(), self.incomplete_text(), self.excluded_text()]))

    def incomplete_text(self) -> str:
        """The units the run planned (run.json) that it has not finished, if any."""
        done = {f"{u.method}/seed{u.seed}" for u in self.all_units()}
        missing = [u for u in self.info.get("units", []) if u not in done]
        if not missing:
            return ""
        shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        return (f"INCOMPLETE RUN: {len(missing)} of {len(self.info['units'])} planned units "
                f"missing ({shown}).")

    def excluded_text(self) -> str:
        """How many samples the run excluded for every method, and why."""
        excluded = self.info.get("dataset", {}).get("excluded", [])
        if not excluded:
            return ""
        kinds = Counter(e.get("reason", "?").split(":")[0] for e in excluded)
        return (f"{len(excluded)} samples excluded for every method "
                f"({', '.join(f'{k}: {n}' for k, n in kinds.most_common())}; listed in run.json).")

    def split_text(self) -> str:
        """Where the run's split came from (run.json; older runs recorded nothing). Without
        run.json neither the split nor the planned units are known: a deleted unit cannot be told
        from one never planned, so the caption says how many it shows."""
        if not (self.run_dir / "run.json").exists():
            return f"NO run.json: split and planned units unknown, units shown: {len(self.all_units())}"
        split = self.info.get("dataset", {}).get("split") or {}
        if split.get("source") == "derived":
            return f"split DERIVED from seed {split.get('seed')} (the manifest has no SPLIT)"
        return "split from the manifest" if split.get("source") == "manifest" else "split not recorded"

    def source_text(self) -> str:
        profile = "/".join(self.profiles())
        dataset = Path(self.info.get("dataset", {}).get("root", "")).name or "dataset folder not recorded"
        if self.is_weld4m_result():
            return f"Weld-4M ({dataset}), profile {profile}, pretrained backbones, {self.split_text()}."
        parts = []
        if self.synthetic():
            parts.append(f"synthetic twin of Weld-4M (generated data, {dataset})")
        if "tiny" in self.presets():
            parts.append("tiny random-weight backbones")
        if not parts:
            parts.append(f"backbone presets {', '.join(self.presets())}")
        return f"NOT Weld-4M results: {'; '.join(parts)}; profile {profile}; {self.split_text()}."

    def seeds_text(self, methods: list[str], std: bool = True) -> str:
        seeds = sorted({s for m in methods for s in self.methods[m].seeds})
        counts = {len(self.methods[m].units) for m in methods}
        if seeds == [seeds[0]] or counts == {1}:
            return f"single seed ({', '.join(map(str, seeds))})"
        text = f"mean{' ± std' if std else ''} over seeds {', '.join(map(str, seeds))}"
        return text if len(counts) == 1 else text + " (fewer for some rows, see notes)"


def _refuse_mixed_settings(run_dir: Path, units: list[R.UnitResult]) -> None:
    """One table, one set of run settings: units whose run fingerprints differ are refused."""
    by_digest: dict[str, list[R.UnitResult]] = {}
    for u in units:
        by_digest.setdefault(u.config.get("fingerprint", {}).get("run_digest", "none"), []).append(u)
    if len(by_digest) < 2:
        return
    groups = sorted(by_digest.values(), key=len, reverse=True)
    first, other = groups[0][0], groups[1][0]
    what = R.changes({k: v for k, v in first.config.get("fingerprint", {}).get("parts", {}).items()
                      if k != "method"},
                     {k: v for k, v in other.config.get("fingerprint", {}).get("parts", {}).items()
                      if k != "method"})
    raise R.StaleResultsError(
        f"{run_dir}: its units were made under {len(groups)} different run settings "
        f"(e.g. {first.method}/seed{first.seed} vs {other.method}/seed{other.seed}: "
        f"{'; '.join(what) or 'no fingerprint'}); one table shows one setting: rerun "
        f"with --rerun or pick a folder")


# ---------------------------------------------------------------------------- the tables
def _grouped(data: RunData, names: list[str], build_row) -> list[RowGroup]:
    """Rows by modality group, in the run's method order (groups by letter); a group of
    reference rows (the shortcut floors) is not ranked."""
    groups: dict[str, list[Row]] = {}
    reference: dict[str, bool] = {}
    for name in names:
        m = data.methods[name]
        groups.setdefault(m.group_title, []).append(build_row(m))
        reference[m.group_title] = reference.get(m.group_title, True) and m.role == REFERENCE
    return [RowGroup(title, rows, ranked=not reference[title]) for title, rows in groups.items()]


def main_rows(data: RunData) -> list[str]:
    return [m for m, runs in data.methods.items() if runs.role in MAIN_ROLES]


def _seed_notes(data: RunData, names: list[str]) -> list[str]:
    most = max(len(data.methods[m].units) for m in names)
    return [f"{m}: {len(data.methods[m].units)} of {most} seeds." for m in names
            if len(data.methods[m].units) < most]


def _finish(table: Table) -> Table:
    table.rank()
    table.assign_notes()
    return table


VAL_QUERIES = Column("val_queries", "VAL q.", kind="number", fmt="{:.0f}", ranked=False,
                     show_std=False)


def metric_row(m: MethodRuns, columns) -> Row:
    cells = {c.key: m.overall(c.key) for c in columns if c.kind != "text"}
    cells[MODALITY_COLUMN.key] = Cell(text=m.modalities)
    if any(c.key == VAL_QUERIES.key for c in columns):
        cells[VAL_QUERIES.key] = m.val_queries()
    return Row(m.label, cells, m.name)


def shortcut_floor(data: RunData, names: list[str]) -> str:
    """The shortcut floors' scores, for the caption: the floors no reader may miss."""
    floor = [data.methods[n] for n in names if data.methods[n].role == REFERENCE]
    shown = []
    for m in floor:
        auroc, matched = m.overall("I-AUROC"), m.overall(f"{MATCHED}/I-AUROC")
        text = f"{m.label} {100 * auroc.mean:.1f}" if auroc.defined else f"{m.label} n/a"
        shown.append(text + (f" (matched {100 * matched.mean:.1f})" if matched.defined else ""))
    if not shown:
        return ""
    return ("Shortcut floors (R), reading a confound and never the weld, shown for reference and "
            "not ranked; I-AUROC: " + "; ".join(shown) + ". A method above them overall but not "
            "on the conf.-free subset may be reading the recipe or the session.")


MODALITY_LEGEND = ("Modalities: V video, A audio, S sensors, I post-weld images, R recipe "
                   "set-points, D recording day.")


def ranking_text(data: RunData, names: list[str]) -> str:
    """The caption's sentence on the marks; it says when reference rows stand outside them."""
    text = "Bold: best, underlined: second best among the rows with the metric defined"
    if any(data.methods[n].role == REFERENCE for n in names):
        text += ("; the shortcut floors (R) read a confound, not the weld, and are shown for "
                 "reference, not ranked")
    return text + "."


def pixel_columns(data: RunData, columns) -> tuple[Column, ...]:
    """The P-AUPRO header says on how many defects it rests when only some have masks."""
    counts = data.pixel_counts()
    if counts is None:
        return tuple(columns)
    span = f"{AUPRO} (n={counts['anomalous']})"
    return tuple(replace(c, span=span) if c.span == AUPRO else c for c in columns)


def main_table(data: RunData, columns=MAIN_COLUMNS) -> Table:
    names = main_rows(data)
    if not names:
        raise ValueError(f"{data.run_dir}: no method for the main table")
    if data.selection().get("policy") == "val":
        columns = (*columns, VAL_QUERIES)
    # the header says how few defects the confound-free column rests on; results written before
    # sessions were recorded have no such column
    free = data.subset_counts(CONFOUND_FREE)
    columns = tuple(c if c.key != f"{CONFOUND_FREE}/I-AUROC" else
                    replace(c, label=f"{c.label[:-1]}, n={free['anomalous']})") if free else None
                    for c in columns)
    columns = pixel_columns(data, (c for c in columns if c is not None))
    cols = [MODALITY_COLUMN, *columns]
    return _finish(Table(
        name="main", title="Main table", label="tab:main", columns=cols,
        groups=_grouped(data, names, lambda m: metric_row(m, columns)), wide=True,
        caption=(f"Anomaly detection and localisation on the TEST split, by the modalities a "
                 f"method uses; values ×100, {data.seeds_text(names)}. "
                 f"{ranking_text(data, names)} {data.provenance()}"),
        details=list(filter(None, [MODALITY_LEGEND, data.matched_text(), data.pixel_text(),
                                   shortcut_floor(data, names), data.interval_text(),
                                   data.selection_text()])),
        extra_notes=_seed_notes(data, names)))


def _category_legend(data: RunData, cats: list[str]) -> str:
    codes = data.category_codes()
    return "Categories: " + ", ".join(f"{data.code(c)} {c.replace('_', ' ')}" for c in cats
                                      if c in codes) + "."


def per_category_table(data: RunData, metric: str, *, maps_only: bool,
                       all_normals: bool = False) -> Table | None:
    """One column per defect category. Like with like: a category's defects against the normal
    TEST welds of their own weld type; `all_normals`: against every normal TEST weld, as published
    work compares (on Weld-4M a weld type alone then scores 0.90 on the fillet-only categories)."""
    names = [m for m in main_rows(data)
             if not maps_only or data.methods[m].config.get("yields_maps")]
    blocks = "per_category_all_normals" if all_normals else "per_category"
    if not names or (all_normals and not any(blocks in u.metrics for u in data.all_units())):
        return None
    cats = data.categories()
    cols = [Column(c, data.code(c), show_std=False) for c in cats]
    cols.append(Column("__overall__", "All", show_std=False))

    def row(m: MethodRuns) -> Row:
        cells = {c: m.category(c, metric, blocks) for c in cats}
        cells["__overall__"] = m.overall(metric)
        return Row(m.label, cells, m.name)

    def matched_row(m: MethodRuns) -> Row:
        cells = {c: m.subset(MATCHED, metric, category=c) for c in cats}
        cells["__overall__"] = m.subset(MATCHED, metric)
        return Row(m.label, cells, m.name)

    task = "detection" if metric.startswith("I-") else "segmentation"
    normals = data.category_normals_text(all_normals)
    what = (f"per defect category: {normals}" if task == "detection" else
            f"per defect category, over the post-weld views of {normals}; only methods that "
            f"produce anomaly maps")
    groups = _grouped(data, names, row)
    everything = ("the TEST welds with pixel truth (below)"
                  if task == "segmentation" and data.pixel_counts() else "the whole TEST split")
    matched = ""
    if task == "detection" and not all_normals and data.subset_counts(MATCHED) is not None:
        groups.append(RowGroup("Recipe-matched TEST subset",
                               [matched_row(data.methods[m]) for m in names
                                if data.methods[m].role != REFERENCE], scope=MATCHED))
        matched = (" The last row group repeats every method on the recipe-matched subset (ranked "
                   "apart): " + data.matched_text())
    suffix = "_all_normals" if all_normals else ""
    return _finish(Table(
        name=f"per_category_{task}{suffix}",
        title=f"Per-category {task} ({metric}{', against every normal' if all_normals else ''})",
        label=f"tab:per-category-{task}{suffix.replace('_', '-')}", columns=cols, groups=groups, wide=True,
        caption=(f"{metric} {what}; 'All' is {everything}; values ×100, "
                 f"{data.seeds_text(names, std=False)}. {ranking_text(data, names)} "
                 f"{data.provenance()}"),
        details=list(filter(None, [matched.strip(),
                                   data.pixel_text(per_category=True) if task == "segmentation" else ""])),
        extra_notes=[_category_legend(data, cats), *_seed_notes(data, names)]))


def ablation_table(data: RunData, columns=MAIN_COLUMNS) -> Table | None:
    """Every method family that declares ablations: its main rows first, then its ablations."""
    families = list(dict.fromkeys(m.family for m in data.methods.values() if m.role == "ablation"))
    if not families:
        return None
    columns = pixel_columns(data, columns)
    cols = [MODALITY_COLUMN, Column("group", "Group", kind="text", ranked=False), *columns]

    def row(m: MethodRuns) -> Row:
        r = metric_row(m, columns)
        r.cells["group"] = Cell(text=m.group_title.split(" ")[0])
        return r

    groups, names = [], []
    for family in families:
        members = sorted((m for m in data.methods.values() if m.family == family),
                         key=lambda m: (m.role == "ablation", m.role != "proposed", m.name))
        groups.append(RowGroup(f"Family {family}", [row(m) for m in members]))
        names += [m.name for m in members]
    summaries = [f"{m}: {data.methods[m].config.get('summary', '')}" for m in names]
    return _finish(Table(
        name="ablation", title="Ablations", label="tab:ablation", columns=cols, groups=groups,
        row_header="Variant", wide=True,
        caption=(f"Ablations: each method family with declared ablations, its main rows first; "
                 f"values ×100, {data.seeds_text(names)}. Bold: best, underlined: second best "
                 f"among the rows with the metric defined. {data.provenance()}"),
        details=list(filter(None, [data.pixel_text()])),
        extra_notes=[*summaries, *_seed_notes(data, names)]))


def config_values(data: RunData) -> list[tuple[str, str]]:
    """(axis, value) of every weld configuration the run's units scored, axes in recorded order."""
    axes: dict[str, set[str]] = {}
    for u in data.all_units():
        for axis, values in u.metrics.get("per_config", {}).items():
            axes.setdefault(axis, set()).update(values)
    return [(axis, v) for axis, values in axes.items() for v in sorted(values, key=_natural)]


def per_config_table(data: RunData, metric: str = "I-AUROC") -> Table:
    """A metric per weld-configuration value (the runner computed them with the others)."""
    names = main_rows(data)
    pairs = config_values(data)
    cols = [Column(f"{axis}={value}", value, span=axis.replace("_", " "), show_std=False)
            for axis, value in pairs]

    def row(m: MethodRuns) -> Row:
        return Row(m.label, {f"{a}={v}": m.config_metric(a, v, metric) for a, v in pairs}, m.name)

    return _finish(Table(
        name="per_config", title=f"Per weld configuration ({metric})", label="tab:per-config",
        columns=cols, groups=_grouped(data, names, row), wide=True,
        caption=(f"{metric} on the TEST samples of each weld-configuration value (normal and "
                 f"defective welds of that value); values ×100, {data.seeds_text(names, std=False)}. "
                 f"{ranking_text(data, names)} {data.provenance()}"),
        extra_notes=_seed_notes(data, names)))


def per_config_rows(data: RunData) -> list[dict]:
    """The per-configuration metrics of every unit, tidy (one row per seed, value and metric)."""
    rows = []
    for m in data.methods.values():
        for u in m.units:
            counts = u.metrics.get("counts", {}).get("per_config", {})
            for axis, values in u.metrics.get("per_config", {}).items():
                for value, block in values.items():
                    n = counts.get(axis, {}).get(value, {})
                    for metric, v in block.items():
                        if isinstance(v, (int, float)) and not isinstance(v, bool):
                            rows.append({"method": m.name, "row_code": m.row_code,
                                         "display_name": m.display_name, "role": m.role,
                                         "seed": u.seed, "axis": axis, "config": value,
                                         "metric": metric, "value": v,
                                         "n_normal": n.get("normal", ""),
                                         "n_anomalous": n.get("anomalous", "")})
    return rows


def _human(n: float, unit: str = "", base: float = 1000.0, prefixes=("", "K", "M", "G", "T")) -> str:
    for p in prefixes:
        if abs(n) < base or p == prefixes[-1]:
            return f"{n:.3g}{p}{unit}" if p else f"{n:.0f}{unit}"
        n /= base
    return str(n)  # pragma: no cover


def _text_cell(m: MethodRuns, key: str, fmt) -> Cell:
    cell = m.efficiency(key)
    if not cell.defined:
        return cell
    return Cell(text=fmt(cell.mean), n=cell.n)


def efficiency_table(data: RunData) -> Table:
    """What each method costs, its frozen backbones charged next to its own part."""
    names = list(data.methods)
    cuda = any(u.efficiency.get("peak_cuda_bytes") for u in data.all_units())
    ms = lambda key, label: Column(key, label, kind="number", fmt="{:.2f}", higher_is_better=False,
                                   ranked=False, span="ms per sample")
    cols = [
        Column("backbone_parameters", "Backbones", kind="text", align="r", span="Parameters"),
        Column("parameters_total", "Own", kind="text", align="r", span="Parameters"),
        Column("parameters_trainable", "Trainable", kind="text", align="r", span="Parameters"),
        Column("memory_bank_bytes", "Memory bank", kind="text", align="r"),
        Column("fit_seconds", "Fit (s)", kind="number", fmt="{:.1f}", higher_is_better=False,
               ranked=False),
        ms("backbone_ms_per_sample", "Backbones"), ms("inference_ms_per_sample", "Own"),
        ms("total_ms_per_sample", "Total"),
        Column("peak_rss_bytes", "Peak RSS", kind="text", align="r"),
    ]
    if cuda:
        cols.append(Column("peak_cuda_bytes", "Peak GPU", kind="text", align="r"))
    byte = lambda v: "0" if not v else _human(v, "B", 1024.0, ("", "Ki", "Mi", "Gi", "Ti"))
    as_text = {"backbone_parameters": _human, "parameters_total": _human,
               "parameters_trainable": _human, "memory_bank_bytes": byte, "peak_rss_bytes": byte,
               "peak_cuda_bytes": byte}

    def row(m: MethodRuns) -> Row:
        cells = {c.key: _text_cell(m, c.key, as_text[c.key]) if c.key in as_text
                 else m.efficiency(c.key) for c in cols}
        return Row(m.label, cells, m.name)

    devices = sorted({str(u.efficiency.get("device", "?")) for u in data.all_units()})
    return _finish(Table(
        name="efficiency", title="Efficiency", label="tab:efficiency", columns=cols,
        groups=_grouped(data, names, row), wide=True,
        caption=(f"Cost of each method on device {', '.join(devices)} ({data.seeds_text(names)}): "
                 f"its frozen backbones charged next to its own part. {data.provenance()}"),
        details=[
                 f"Backbones: the frozen encoders whose features the method reads (V-JEPA 2, AST, "
                 f"DINOv2; decoding and the label guard for the photos), with the time per sample "
                 f"the extraction log measured when the features were computed, plus any frozen "
                 f"encoder the method runs itself (parameters only: its time is in the method's "
                 f"own time). Own: the method's other parameters (trainable ones apart), memory "
                 f"bank, fit time, TEST inference time per sample. Total: backbones + own per "
                 f"sample."],
        extra_notes=["Peak RSS is the resident memory of the whole benchmark process (interpreter "
                     "and the memory-mapped feature files included) from reading the unit's "
                     "features to its last check, sampled every 20 ms; it is an upper bound on "
                     "the method's own memory (efficiency.json's peak_private_bytes leaves out "
                     "the mapped files, which the kernel may drop). Times are wall-clock and "
                     "depend on the machine; extraction times were measured on the device that "
                     "computed the features.",
                     *_seed_notes(data, names)]))


RELIANCE_MEDIA = {"video": "V", "audio": "A", "sensor": "S", "image": "I"}


def reliance_table(data: RunData) -> Table | None:
    """Modality reliance: each multimodal method's TEST I-AUROC as scored, and with one medium's
    input taken from another TEST weld of the same weld type (the runner's `modality_reliance`).
    A medium the score rests on drops it towards 50; one the method ignores leaves it unmoved."""
    names = [m for m in data.methods
             if data.methods[m].role in MAIN_ROLES and any("reliance" in u.metrics for u in data.methods[m].units)]
    if not names:
        return None
    cols = [MODALITY_COLUMN, Column("I-AUROC", "Intact", ranked=False),
            *(Column(medium, letter, span="I-AUROC, this input swapped", ranked=False)
              for medium, letter in RELIANCE_MEDIA.items())]

    def row(m: MethodRuns) -> Row:
        cells = {"I-AUROC": m.overall("I-AUROC"), MODALITY_COLUMN.key: Cell(text=m.modalities)}
        for medium in RELIANCE_MEDIA:
            blocks = [u.metrics.get("reliance", {}).get(medium) for u in m.units]
            cells[medium] = summarise([None if b is None else b["overall"]["I-AUROC"] for b in blocks],
                                      ["the method does not read this input"] * len(blocks))
        return Row(m.label, cells, m.name)

    return _finish(Table(
        name="reliance", title="Modality reliance (I-AUROC)", label="tab:reliance", columns=cols,
        groups=_grouped(data, names, row), wide=True,
        caption=(f"Modality reliance: TEST I-AUROC of each multimodal method as scored (Intact) and "
                 f"with one input swapped, its features taken from another TEST weld of the same "
                 f"weld type, the other inputs kept; values ×100, {data.seeds_text(names)}. "
                 f"{data.provenance()}"),
        details=["A score that rests on an input falls towards 50 when that input is swapped; one "
                 "that ignores it does not move. The donor weld shares the weld type, so the "
                 "swapped input carries no weld-type difference; the method is fitted once, "
                 "scoring alone is repeated.", MODALITY_LEGEND],
        extra_notes=_seed_notes(data, names)))


# ---------------------------------------------------------------------------- appendix data
@dataclass
class Adaptation:
    name: str
    group: str
    modalities: str
    summary: str
    paper: str
    changes: list[dict]  # rows of Hyperparameters.changes()
    kept: list[tuple[str, object]]  # hyperparameters used exactly as published
    original_selection: str  # how the original chose its final model
    selection: str  # what this run did instead (the run's policy and the method's VAL queries)
    label: str = ""  # the row label of the paper's tables
    view_pooling: str = "not recorded"  # how the post-weld views make the sample score


def adaptations(data: RunData) -> list[Adaptation]:
    out = []
    for m in data.methods.values():
        hp = m.config.get("hyperparameters", {})
        changes = list(hp.get("changes", []))
        changed = {c["name"] for c in changes}
        original = hp.get("original", {})
        kept = [(k, v) for k, v in original.items() if k not in changed]
        sel = m.config.get("selection", {})
        queries = m.val_queries()
        used = (f"policy '{sel.get('policy', '?')}'"
                + (f" (K={sel.get('budget')}), {queries.mean:.0f} VAL queries" if sel.get("policy") == "val"
                   and queries.defined else ""))
        pooling = m.config.get("view_pooling")
        views = (f"{pooling} ({m.config.get('view_pooling_text', '')})".replace(" ()", "")
                 if pooling else "not recorded")
        out.append(Adaptation(m.name, m.group_title, m.modalities,
                              m.config.get("summary", ""), m.config.get("paper", ""), changes, kept,
                              hp.get("original_selection", "not recorded"), used, m.label, views))
    return out
