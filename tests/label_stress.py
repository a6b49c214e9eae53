"""Stress set and measures for the label guard (a helper of tests/test_label_guard.py).

The stress set draws a synthetic run-id label (paper and print as `benchmark.data.synth.images`
draws its label, at full photo resolution) onto the 20 real Weld-4M views, after their own label
has been painted out using the hand-drawn outlines of `fixtures/label_boxes.json`. Each case
varies one placement (free on the plate, touching or overlapping the bead highlight, touching or
overlapping the white marker sheet, partly out of frame) with the angle (0-90 degrees), the scale
and the exposure, so that every angle meets every placement.

A second set, the worn labels, prints the run id as a worn ribbon does (issue 21): its first
characters fade from near-invisible up to normal, or one character is missing. The guard must
take such a label's paper whole: the day (`08-17`) it would otherwise leave is a shortcut.

The two measures are the issues' acceptance figures:

* leftover: the share of the label (its paper, the print on it included) inside its outline
  that the guard left untouched (outside the removed mask);
* reach: the largest distance (px) from the label's outline of a pixel the guard changed.

    python tests/label_stress.py [--seed N]   # both figures, real views and stress set
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "label_boxes.json"
SAMPLES = HERE.parents[1] / "shared" / "weld4m" / "samples" / "good_weld_08_17_22_plane_plate"

ANN = {k: v for k, v in json.loads(FIXTURE.read_text()).items() if not k.startswith("_")}
REAL_KEYS = sorted(ANN)

MAX_LEFTOVER = 0.05   # share of the label left untouched
MAX_REACH_PX = 60     # no changed pixel farther than this from the label's outline

PAPER_RGB = (236, 236, 230)   # as the twin draws its label (benchmark.data.synth.images)
PRINT_RGB = (15, 15, 15)
REAL_LABEL_LONG_PX = 620      # the real label's long side in a 2064x1548 view
REAL_LABEL_ASPECT = 4.2       # long / short side of the real label


# ------------------------------------------------------------------------------ real views


def load_real(key: str) -> np.ndarray:
    run, name = key.split("/")
    path = SAMPLES / run / "images" / name
    # NOTE: the 20 real views are the guard's acceptance test: missing files fail, never skip.
    assert path.exists(), f"real sample {path} not found: ../shared/weld4m must sit beside the repo"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def poly_mask(shape, pts) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.asarray(pts, np.int32)], 1)
    return m.astype(bool)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(m)
    cv2.drawContours(out, contours, -1, 1, -1)
    return out.astype(bool)


def real_label_mask(image: np.ndarray, key: str) -> np.ndarray:
    """The label (paper and the print on it) as the hand-drawn outline shows it.

    The outlines are drawn by hand and miss the paper edge by up to ~50 px either way, so the
    label is taken as the bright components near the outline that lie mostly inside it (the
    marker sheet and the bead highlight nearby lie mostly outside), print holes filled.
    """
    outline = poly_mask(image.shape, ANN[key]["label_poly"])
    near = cv2.dilate(outline.astype(np.uint8), np.ones((121, 121), np.uint8)) > 0
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    paper_level = float(np.percentile(gray[outline], 90))
    paper = ((gray > 0.7 * paper_level) & near).astype(np.uint8)
    paper = cv2.morphologyEx(paper, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(paper)
    inside = np.bincount(lab[outline], minlength=n)
    keep = np.zeros(n, bool)
    keep[1:] = inside[1:] > 0.5 * stats[1:, cv2.CC_STAT_AREA]
    label = cv2.morphologyEx(keep[lab].astype(np.uint8), cv2.MORPH_CLOSE,
                             np.ones((31, 31), np.uint8))
    return _fill_holes(label)


@functools.cache
def clean_background(key: str) -> np.ndarray:
    """A real view with its own label painted out (from the annotation, not by the guard)."""
    image = load_real(key)
    label = real_label_mask(image, key) | poly_mask(image.shape, ANN[key]["label_poly"])
    label = cv2.dilate(label.astype(np.uint8), np.ones((31, 31), np.uint8))
    small = cv2.resize(image, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    msmall = cv2.resize(label, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    filled = cv2.inpaint(small, (msmall > 0).astype(np.uint8), 7, cv2.INPAINT_TELEA)
    up = cv2.resize(filled, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
    # plate grain over the smooth fill, so the patch does not read as a flat blob
    rng = np.random.default_rng(len(key))
    grain = rng.normal(0, 4, image.shape[:2])[..., None]
    out = image.copy()
    m = label > 0
    out[m] = np.clip(up.astype(np.float32) + grain, 0, 255).astype(np.uint8)[m]
    return out


@functools.cache
def sheet_mask(key: str) -> np.ndarray:
    """The white marker sheet of a cleaned view: its largest bright low-saturation component."""
    bg = clean_background(key)
    hsv = cv2.cvtColor(bg, cv2.COLOR_RGB2HSV)
    bright = ((hsv[..., 2] > 150) & (hsv[..., 1] < 60)).astype(np.uint8)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    _, lab, stats, _ = cv2.connectedComponentsWithStats(bright)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return _fill_holes(lab == biggest)


def bead_axis(key: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, unit direction, half width) of the annotated bead polygon."""
    pts = np.asarray(ANN[key]["bead_poly"], np.float64)
    (cx, cy), (w, h), ang = cv2.minAreaRect(pts.astype(np.float32))
    t = np.deg2rad(ang if w >= h else ang + 90.0)
    return np.array([cx, cy]), np.array([np.cos(t), np.sin(t)]), min(w, h) / 2


# ------------------------------------------------------------------------------ stress cases

PLACEMENTS = ("plate", "bead_touch", "bead_overlap", "sheet_touch", "sheet_overlap", "out_of_frame")
ANGLES = (0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)
SCALES = (0.6, 0.8, 1.0, 1.3)
EXPOSURES = (0.6, 1.0, 1.5)
_FADE_FROM = 0.05     # a faded run id's first character prints at this share of full contrast


@dataclass(frozen=True)
class StressCase:
    index: int
    key: str          # the real view used as background
    placement: str
    angle: float      # degrees, the label's long side against the image x axis
    scale: float      # label size against the real label
    exposure: float   # gain of the whole photo (1.5 saturates the paper)
    edge_shadow: bool  # a faint shadow line around the paper (a label's thickness)
    seed: int = 0      # another seed draws other run ids, places and noise for the same plan
    fade: int = 0      # the first `fade` characters ramp from near-invisible up to full contrast
    missing: int | None = None  # the character (index in the run id) the ribbon did not print

    @property
    def name(self) -> str:
        worn = (f"-fade{self.fade}" if self.fade else "") + (
            f"-miss{self.missing}" if self.missing is not None else "")
        return (f"{self.index:03d}-{self.placement}-a{self.angle:g}-s{self.scale:g}"
                f"-e{self.exposure:g}{worn}")

    @property
    def worn(self) -> str | None:
        return "faded" if self.fade else "missing" if self.missing is not None else None


def stress_cases(seed: int = 0) -> list[StressCase]:
    """Every placement at every angle (42 pairs), twice; background, scale and exposure cycle
    with periods that do not divide each other, so the pairs meet all of them. Then the worn
    labels (`worn_cases`)."""
    cases = []
    for i in range(2 * len(PLACEMENTS) * len(ANGLES)):
        cases.append(StressCase(
            index=i, key=REAL_KEYS[(7 * i + 3 * seed) % len(REAL_KEYS)],
            placement=PLACEMENTS[i % len(PLACEMENTS)],
            angle=ANGLES[(i // len(PLACEMENTS)) % len(ANGLES)],
            scale=SCALES[i % len(SCALES) if i < 42 else (i + 1) % len(SCALES)],
            exposure=EXPOSURES[(i // 2) % len(EXPOSURES)],
            edge_shadow=bool(i % 5 < 3), seed=seed))
    return cases + worn_cases(seed, len(cases))


def worn_cases(seed: int = 0, start: int = 84) -> list[StressCase]:
    """Worn labels (module doc): 14 faded over 5-8 characters, 7 with a character missing (the
    first, the last, five inside), each placement and angle met, sizes and exposures cycling."""
    cases = []
    for k in range(21):
        i = start + k
        faded = k < 14
        cases.append(StressCase(
            index=i, key=REAL_KEYS[(7 * i + 3 * seed) % len(REAL_KEYS)],
            placement=PLACEMENTS[k % len(PLACEMENTS)], angle=ANGLES[k % len(ANGLES)],
            scale=SCALES[k % len(SCALES)], exposure=EXPOSURES[k % len(EXPOSURES)],
            edge_shadow=bool(k % 5 < 3), seed=seed,
            fade=5 + k % 4 if faded else 0,
            missing=None if faded else (0, 3, 7, 10, 12, 15, 1)[k - 14]))
    return cases


def _label_sprite(text: str, long_px: int, rng: np.random.Generator, fade: int = 0,
                  missing: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An upright label (float RGB, alpha in 0..1): paper with the run id printed across it,
    worn as `StressCase.fade` and `.missing` say."""
    w, h = long_px, round(long_px / REAL_LABEL_ASPECT)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, _), _ = cv2.getTextSize(text, font, 1.0, 1)
    font_scale = 0.88 * w / tw
    thickness = max(1, round(2.2 * font_scale))
    (tw, th), _ = cv2.getTextSize(text, font, font_scale, thickness)
    paper = np.empty((h, w, 3), np.float32)
    paper[:] = PAPER_RGB
    paper += np.linspace(-6, 6, w, dtype=np.float32)[None, :, None] * rng.choice([-1, 1])
    paper += rng.normal(0, 2.5, (h, w, 1)).astype(np.float32)
    paper = np.clip(paper, 0, 255).astype(np.uint8)
    at = ((w - tw) // 2, (h + th) // 2)
    if not fade and missing is None:
        cv2.putText(paper, text, at, font, font_scale, PRINT_RGB, thickness, cv2.LINE_AA)
        return paper.astype(np.float32), _label_alpha(w, h)
    ink = np.zeros((h, w), np.uint8)
    cv2.putText(ink, text, at, font, font_scale, 255, thickness, cv2.LINE_AA)
    # where each character's columns begin and end (Hershey advances add up to a pixel)
    x = at[0] + np.array([cv2.getTextSize(text[:k], font, font_scale, thickness)[0][0]
                          if k else 0 for k in range(len(text) + 1)])
    strength = np.ones(w, np.float32)
    if fade:
        strength[:x[fade]] = np.interp(np.arange(x[fade]), [x[0], x[fade]], [_FADE_FROM, 1.0])
    if missing is not None:
        strength[x[missing]:x[missing + 1]] = 0.0
    a = (ink.astype(np.float32) / 255 * strength[None])[..., None]
    out = paper.astype(np.float32) * (1 - a) + np.float32(PRINT_RGB) * a
    return out, _label_alpha(w, h)


def _label_alpha(w: int, h: int) -> np.ndarray:
    """The label's paper (alpha 0..1): a rectangle with rounded corners, as a die-cut label."""
    alpha = np.zeros((h, w), np.float32)
    r = max(2, h // 12)
    cv2.rectangle(alpha, (r, 0), (w - 1 - r, h - 1), 1.0, -1)
    cv2.rectangle(alpha, (0, r), (w - 1, h - 1 - r), 1.0, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(alpha, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    return alpha


def label_area(case: StressCase) -> int:
    """Pixels of the case's whole label, in frame or not."""
    w = round(REAL_LABEL_LONG_PX * case.scale)
    return int((_label_alpha(w, round(w / REAL_LABEL_ASPECT)) > 0.5).sum())


def _half_extent(size: tuple[float, float], angle: float, n: np.ndarray) -> float:
    """Half extent of a rotated w x h rectangle along the unit vector n."""
    t = np.deg2rad(angle)
    u, v = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
    return abs(size[0] / 2 * (u @ n)) + abs(size[1] / 2 * (v @ n))


def _slide_to(centre: np.ndarray, step: np.ndarray, size: tuple[float, float], angle: float,
              target: np.ndarray) -> np.ndarray:
    """Move a w x h label at `angle` from `centre` along `step` until its outline comes within
    a pixel of `target` (a bool mask): the label touches it without covering it."""
    dist = cv2.distanceTransform((~target).astype(np.uint8), cv2.DIST_L2, 5)
    h, w = target.shape
    corners = cv2.boxPoints(((0.0, 0.0), size, angle))
    # the straight parts of the outline: the rounded corners (`_label_alpha`) are cut away
    t = np.linspace(0, 1, 40)[:, None]
    inset = max(2, round(size[1]) // 12) / np.array([np.linalg.norm(corners[(k + 1) % 4] - corners[k])
                                                          for k in range(4)])
    outline = np.concatenate([corners[k] + (inset[k] + (1 - 2 * inset[k]) * t)
                              * (corners[(k + 1) % 4] - corners[k]) for k in range(4)])
    for _ in range(800):
        pts = np.round(outline + centre).astype(int)
        pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)]
        if len(pts) and dist[pts[:, 1], pts[:, 0]].min() <= 1:
            return centre
        centre = centre + step
    raise AssertionError("stress label never reached its target")


def _centre(case: StressCase, size: tuple[float, float], shape, rng) -> np.ndarray:
    h, w = shape[:2]
    x0, y0, x1, y1 = ANN[case.key]["label"]
    home = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    if case.placement == "plate":
        return home + rng.uniform(-40, 40, 2)
    if case.placement.startswith("bead"):
        c, d, half = bead_axis(case.key)
        n = np.array([-d[1], d[0]])
        if (home - c) @ n < 0:
            n = -n  # the side of the bead the label was on
        along = c + d * ((home - c) @ d + rng.uniform(-60, 60))
        if case.placement == "bead_touch":
            start = along + n * (half + _half_extent(size, case.angle, n) + 40)
            return _slide_to(start, -n, size, case.angle, poly_mask(shape, ANN[case.key]["bead_poly"]))
        return along + n * (half + _half_extent(size, case.angle, n) - 0.35 * size[1])
    if case.placement.startswith("sheet"):
        sheet = sheet_mask(case.key)
        ys, xs = np.nonzero(sheet)
        centroid = np.array([xs.mean(), ys.mean()])
        # a point of the sheet's outline near where the label was, the label outside it
        contours, _ = cv2.findContours(sheet.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)
        edge = max(contours, key=len).reshape(-1, 2).astype(np.float64)
        edge = edge[(edge[:, 0] > 20) & (edge[:, 0] < w - 20) & (edge[:, 1] > 20)]
        p = edge[np.argmin(np.linalg.norm(edge - (home + [rng.uniform(-150, 150), 0]), axis=1))]
        n = (p - centroid) / np.linalg.norm(p - centroid)
        if case.placement == "sheet_touch":
            return _slide_to(p + n * (_half_extent(size, case.angle, n) + 40), -n, size,
                             case.angle, sheet)
        return p + n * (_half_extent(size, case.angle, n) * (1 - 0.9))
    # out of frame: 20-45 % of the label's extent across the chosen border lies outside
    side = int(rng.integers(4))
    n = [np.array([-1.0, 0]), np.array([1.0, 0]), np.array([0, -1.0]), np.array([0, 1.0])][side]
    ext = _half_extent(size, case.angle, n)
    out = rng.uniform(0.2, 0.45)
    border = [0.0, w - 1.0, 0.0, h - 1.0][side]
    c = home.copy()
    k = 0 if side < 2 else 1
    c[k] = border - n[k] * ext * (1 - 2 * out)
    return c


def render(case: StressCase) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB photo, bool label mask in the photo) of one stress case."""
    rng = np.random.default_rng([case.seed, 1000 + case.index])
    bg = clean_background(case.key).astype(np.float32)
    h, w = bg.shape[:2]
    text = f"08-{rng.integers(10, 31)}-22-{rng.integers(0, 10000):04d}-{rng.integers(0, 12):02d}"
    sprite, alpha = _label_sprite(text, round(REAL_LABEL_LONG_PX * case.scale), rng, case.fade,
                                  case.missing)
    sh, sw = alpha.shape
    centre = _centre(case, (sw, sh), bg.shape, rng)
    m = cv2.getRotationMatrix2D((sw / 2, sh / 2), -case.angle, 1.0)
    m[:, 2] += centre - [sw / 2, sh / 2]
    a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    paper = cv2.warpAffine(sprite, m, (w, h), flags=cv2.INTER_LINEAR)
    if case.edge_shadow:
        ring = cv2.dilate(a[..., 0], np.ones((7, 7), np.uint8)) - a[..., 0]
        bg *= 1 - 0.3 * ring[..., None]
    photo = bg * (1 - a) + paper * a
    photo = cv2.GaussianBlur(photo * case.exposure, (0, 0), 0.8)
    photo = np.clip(photo + rng.normal(0, 2.0, photo.shape[:2])[..., None], 0, 255)
    ok, buf = cv2.imencode(".jpg", photo.astype(np.uint8)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    photo = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(photo), a[..., 0] > 0.5


# ------------------------------------------------------------------------------ measures


def leftover(removed: np.ndarray, label: np.ndarray) -> float:
    """Share of the label (in frame) that is outside the removed mask."""
    return float((label & ~removed).sum()) / max(int(label.sum()), 1)


def reach(original: np.ndarray, guarded: np.ndarray, removed: np.ndarray,
          label: np.ndarray) -> float:
    """Largest distance (px) from the label of a pixel that changed or was declared removed."""
    changed = removed | (original != guarded).any(axis=2)
    if not changed.any():
        return 0.0
    dist = cv2.distanceTransform((~label).astype(np.uint8), cv2.DIST_L2, 5)
    return float(dist[changed].max())


def measure(image: np.ndarray, label: np.ndarray, extent: np.ndarray | None = None,
            **guard_options) -> dict:
    """Guard one photo; leftover of `label`, reach beyond `extent` (default: the label)."""
    from benchmark.data.label_guard import remove_label

    out, region = remove_label(image, **guard_options)
    extent = label if extent is None else extent
    return {"status": region.status, "left": region.left, "grown": region.grown,
            "leftover": leftover(region.mask, label), "reach": reach(image, out, region.mask, extent)}


def measure_real(key: str, **guard_options) -> dict:
    """`measure` on a real view: leftover of the paper inside the hand-drawn outline, reach
    beyond the outline or the paper it missed (whichever is farther out)."""
    image = load_real(key)
    label = real_label_mask(image, key)
    extent = poly_mask(image.shape, ANN[key]["label_poly"]) | label
    return measure(image, label, extent, **guard_options)


def summary(rows: list[dict]) -> str:
    left = 100 * np.array([r["leftover"] for r in rows])
    far = np.array([r["reach"] for r in rows])
    status = {s: sum(r["status"] == s for r in rows) for s in ("found", "unsure", "not found")}
    return (f"{len(rows)} views {status}; label left %: median {np.median(left):.2f}, worst "
            f"{left.max():.2f} (limit {100 * MAX_LEFTOVER:g}); changed px beyond the label: "
            f"median {np.median(far):.0f}, worst {far.max():.0f} (limit {MAX_REACH_PX})")


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="leftover and reach of the label guard")
    ap.add_argument("--seed", type=int, default=0, help="stress set seed (the tests use 0)")
    ap.add_argument("--dump", type=Path, help="write the stress photos here")
    args = ap.parse_args(argv)
    real = []
    for key in REAL_KEYS:
        real.append(measure_real(key))
        print(f"  {key}: {real[-1]}")
    rows: dict[str | None, list[dict]] = {}
    for case in stress_cases(args.seed):
        photo, label = render(case)
        rows.setdefault(case.worn, []).append(measure(photo, label))
        print(f"  {case.name}: {rows[case.worn][-1]}")
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.dump / f"{case.name}.jpg"), photo[..., ::-1])
    print(f"real views: {summary(real)}")
    for worn, got in rows.items():
        print(f"stress set (seed {args.seed}), {worn or 'plain'} labels: {summary(got)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
