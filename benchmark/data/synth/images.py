"""Images: the post-weld photos (5 views) and their defect masks.

The *result*, the bead in the photos, is a deterministic function of the realised process (width ~
sqrt(heat input / speed) / sqrt(feed ratio), height ~ feed / speed, ripple pitch ~ speed, heat-tint
band ~ heat input) plus small image noise. Code 12 photographs a normal bead of the partner
configuration (`PARTNER`). The photos carry a paper label with the run id printed on it (the
deliberate leak of the real data); `label=False` leaves it out and changes nothing else.

One canonical top-down scene (`CANVAS_W` x `CANVAS_H`) is painted in layers: bench, marker sheet,
plate, bead, the defect; then every view warps a jittered crop of it (with the label, if any),
shifted by the session's pose and lit by the session's lighting (`Nuisance`: gain and colour
cast over the whole view, background included).
Every layer draws from the one image stream in a fixed order, so the layers' functions must be
called in the order `render_images` calls them.

Choice (not a fact of the real data): photos 320x240 JPG (real 2064x1548).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .process import (FEED_PER_A, S_IMAGE, S_PROCESS_B, Config, Process, SampleSpec, _has,
                      _rng, draw_process, process_of)
from .sessions import Nuisance, lighting, nuisance_for

IMG_W, IMG_H = 320, 240  # photo size
CANVAS_W, CANVAS_H = 400, 300  # canonical (top-down) scene, each view warps a crop of it
N_VIEWS = 5
LABEL_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.42
LABEL_THICKNESS = 1
LABEL_PAD_X, LABEL_PAD_Y = 5, 7  # NOTE: paper above and below the print, as a real label has
BEAD_Y = 130.0  # canonical bead centre line
BEAD_X0, BEAD_X1 = 95.0, 305.0
PLATE_X0, PLATE_X1, PLATE_V0, PLATE_V1 = 70, 330, 92, 198
LABEL_TOP_MIN = 160  # label top (canonical) is >= this; bead + defects stay above BEAD_Y + 27


@dataclass(frozen=True)
class Bead:
    width: float  # px in the canonical scene
    height: float  # relative (1 = typical)
    pitch: float  # ripple pitch, px
    tint: float  # heat-tint band width, px


def bead_of(p: Process, rng: np.random.Generator) -> Bead:
    """The result: a deterministic function of the realised process plus small noise."""
    n = rng.standard_normal(4)
    feed_ratio = p.feed / (FEED_PER_A * p.current)
    width = 1.05 * math.sqrt(p.heat / p.speed) / math.sqrt(feed_ratio) * (1 + 0.02 * n[0])
    height = (p.feed / p.speed) / 2.0 * (1 + 0.03 * n[1])
    pitch = (0.10 * p.speed + 1.2) * (1 + 0.03 * n[2])
    tint = 0.40 * width * (p.heat / 4000.0) * (1 + 0.03 * n[3])
    return Bead(width, height, pitch, tint)


def label_text_size(text: str) -> tuple[int, int]:
    import cv2

    (w, h), base = cv2.getTextSize(text, LABEL_FONT, LABEL_SCALE, LABEL_THICKNESS)
    return w, h + base


@dataclass(frozen=True)
class _Grid:
    """Pixel coordinates of the canonical scene; the plate (and all on it) lives in (xx, v)."""
    xx: np.ndarray  # x of every pixel
    v: np.ndarray  # plate coordinate: y minus the plate's bend at that x
    dy: np.ndarray  # (CANVAS_W,) the plate's bend (non-zero only for 10 Warping)


@dataclass(frozen=True)
class _BeadShape:
    """Where the bead lies: a capsule along BEAD_Y from BEAD_X0 to BEAD_X1, end crater at X1."""
    half: float  # half width, px
    dist: np.ndarray  # distance of every pixel to the bead's centre segment
    d: np.ndarray  # dist / half
    inside: np.ndarray  # d < 1
    crater_c: tuple[float, float]


def render_images(seed: int, spec: SampleSpec, code: int | None = None, label: bool = True
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(5 RGB uint8 (240, 320, 3) views, 5 bool masks). Code 12 photographs a normal bead of the
    partner configuration (process drawn from its own stream)."""
    code = spec.code if code is None else code
    show = code if _has(code, "image") else 0
    rng = _rng(seed, spec, S_IMAGE)
    # NOTE: the steps below share `rng`; reordering them changes every photo of every twin.
    cfg, p = _photographed_process(seed, spec, code)
    bead = bead_of(p, rng)
    yy, xx = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    img = _bench(rng, yy)
    _draw_marker_sheet(img, rng)
    dy = _plate_bend(rng, show)
    grid = _Grid(xx=xx, v=yy - dy[None, :], dy=dy)
    img, plate = _draw_plate(img, rng, cfg, show, grid)
    shape = _bead_shape(bead, grid)
    img = _draw_heat_tint(img, bead, shape, cfg, plate)
    mask = np.zeros((CANVAS_H, CANVAS_W), bool)
    img = _draw_bead(img, mask, bead, shape, show, grid)
    img = _draw_defect(show, img, mask, rng, grid, shape)
    img = img + rng.normal(0, 2.5, (CANVAS_H, CANVAS_W, 1)).astype(np.float32)
    base_img = np.clip(img, 0, 255).astype(np.uint8)
    mask_u8 = mask.astype(np.uint8) * 255
    return _photograph(base_img, mask_u8, spec.run_id, dy, rng, label,
                       nuisance_for(seed, spec))


def _photographed_process(seed: int, spec: SampleSpec, code: int) -> tuple[Config, Process]:
    """The configuration and realised process of the bead in the photos."""
    if code == 12:
        cfg = spec.img_config
        p = draw_process(cfg, _rng(seed, spec, S_PROCESS_B))
    else:
        cfg = spec.config
        p = process_of(seed, spec, code if _has(code, "image") else 0)
    return cfg, p


# ------------------------------------------------------------------------------ scene layers


def _bench(rng: np.random.Generator, yy: np.ndarray) -> np.ndarray:
    """Float RGB canvas: dark bench with smooth shading."""
    import cv2

    H, W = CANVAS_H, CANVAS_W
    low = cv2.resize(rng.normal(0, 6, (6, 8)).astype(np.float32), (W, H),
                     interpolation=cv2.INTER_CUBIC)
    bg = 36 + low + 0.03 * (yy - H / 2)
    return np.repeat(bg[..., None], 3, axis=2)


def _draw_marker_sheet(img: np.ndarray, rng: np.random.Generator) -> None:
    """Paper sheet with fiducials, partly under the plate (in place)."""
    import cv2

    sheet = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    sx, sy = rng.uniform(-8, 8, 2)
    poly = np.array([[95 + sx, 160 + sy], [335 + sx, 168 + sy], [330 + sx, 262 + sy],
                     [90 + sx, 255 + sy]], np.int32)
    cv2.fillPoly(sheet, [poly], 1)
    img[sheet > 0] = 228
    for j in range(3):
        cx, cy = int(140 + 70 * j + sx), int(232 + sy)
        cv2.ellipse(img, (cx, cy), (12, 12), 0, 200, 290, (40, 40, 40), 4)
        cv2.ellipse(img, (cx, cy), (12, 12), 0, 20 + 40 * j, 90 + 40 * j, (40, 40, 40), 4)
        cv2.circle(img, (cx, cy), 3, (40, 40, 40), -1)


def _plate_bend(rng: np.random.Generator, show: int) -> np.ndarray:
    """Plate displacement per x (warping bends the plate and the bead with it)."""
    dy = np.zeros(CANVAS_W, np.float32)
    if show == 10:
        amp = float(rng.uniform(9, 13)) * float(rng.choice([-1, 1]))
        u = (np.arange(CANVAS_W) - 200.0) / 130.0
        dy = (amp * (u ** 2 - 0.35)).astype(np.float32)
    return dy


def _draw_plate(img: np.ndarray, rng: np.random.Generator, cfg: Config, show: int, grid: _Grid
                ) -> tuple[np.ndarray, np.ndarray]:
    """(canvas with the steel plate and its edge shadow, the plate's pixels)."""
    import cv2

    xx, v, dy = grid.xx, grid.v, grid.dy
    plate = (xx >= PLATE_X0) & (xx <= PLATE_X1) & (v >= PLATE_V0) & (v <= PLATE_V1)
    steel = np.array([96, 62, 46], np.float32) if cfg.steel_type == "FE410" \
        else np.array([84, 80, 84], np.float32)
    grain = cv2.resize(rng.normal(0, 7, (30, 40)).astype(np.float32), (CANVAS_W, CANVAS_H),
                       interpolation=cv2.INTER_LINEAR)
    shade = 1.0 + 0.12 * (xx - 200) / 200 + (0.10 * np.gradient(dy)[None, :] * 8 if show == 10 else 0)
    plate_rgb = steel[None, None, :] * shade[..., None] + grain[..., None]
    if cfg.weld_type == "FILLET":  # the upright plate of a T-joint: a lighter face above the bead
        face = plate & (v < BEAD_Y - 2)
        plate_rgb = np.where(face[..., None], plate_rgb * 1.35 + 10, plate_rgb)
    img = np.where(plate[..., None], plate_rgb, img)
    # plate edge shadow: as wide as the plate is thick (5 px for 7 mm, 2 px for 3 mm)
    edge_px = round(0.7 * cfg.thickness_mm)
    edge = (xx >= PLATE_X0) & (xx <= PLATE_X1) & (v > PLATE_V1) & (v <= PLATE_V1 + edge_px)
    img[edge] = img[edge] * 0.5
    return img, plate


def _bead_shape(bead: Bead, grid: _Grid) -> _BeadShape:
    half = bead.width / 2
    xc = np.clip(grid.xx, BEAD_X0, BEAD_X1)
    dist = np.sqrt((grid.xx - xc) ** 2 + (grid.v - BEAD_Y) ** 2)  # capsule distance
    d = dist / half
    return _BeadShape(half=half, dist=dist, d=d, inside=d < 1.0,
                      crater_c=(BEAD_X1 - 0.2 * half, BEAD_Y))


def _draw_heat_tint(img: np.ndarray, bead: Bead, shape: _BeadShape, cfg: Config,
                    plate: np.ndarray) -> np.ndarray:
    """The heat-tint band on the plate along the bead, fading outwards."""
    half, dist = shape.half, shape.dist
    tint_zone = (dist < half + bead.tint) & ~shape.inside & plate
    tint_col = np.array([70, 72, 110], np.float32) if cfg.steel_type == "FE410" \
        else np.array([120, 100, 60], np.float32)
    w_t = np.clip(1 - (dist - half) / max(bead.tint, 1e-3), 0, 1)[..., None]
    return np.where(tint_zone[..., None], img * (1 - 0.6 * w_t) + tint_col * 0.6 * w_t, img)


def _draw_bead(img: np.ndarray, mask: np.ndarray, bead: Bead, shape: _BeadShape, show: int,
               grid: _Grid) -> np.ndarray:
    """Bead: cylinder-ish profile, ripples, rounded ends, crater at the end. Excessive penetration
    (01, 04) changes the bead's own shading, so it is drawn here, not with the other defects."""
    xx, v, half, d = grid.xx, grid.v, shape.half, shape.d
    prof = np.sqrt(np.clip(1 - d ** 2, 0, 1))
    sharp = 0.6 + 1.4 * bead.height
    light = 95 + 120 * prof ** sharp - 35 * bead.height * np.clip(d - 0.6, 0, 1)
    ripple = np.cos(2 * np.pi * (xx + 0.5 * half * d ** 2) / bead.pitch)
    light = light + 14 * bead.height * ripple * prof
    crater_c = shape.crater_c
    crater = np.sqrt((xx - crater_c[0]) ** 2 + (v - crater_c[1]) ** 2) < 0.55 * half
    light = np.where(crater, light - 30, light)
    if show in (1, 4):  # excessive penetration: sunken, dark-centred wide bead
        light = light - 55 * np.exp(-((v - BEAD_Y) / (0.3 * half)) ** 2)
        mask |= shape.inside
    bead_rgb = np.stack([light * 0.97, light, light * 1.04], axis=-1)
    return np.where(shape.inside[..., None], bead_rgb, img)


# ----------------------------------------------------------------------------------- defects
# One function per image-visible defect: (img, mask, rng, grid, shape) -> img. Each may paint img in
# place or return a new array, and adds its region to mask in place.


def _draw_defect(show: int, img: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 grid: _Grid, shape: _BeadShape) -> np.ndarray:
    draw = _DEFECTS.get(show)
    return img if draw is None else draw(img, mask, rng, grid, shape)


def _discs(img, mask, dy, centres, radii, color) -> None:
    """Filled discs (plate coordinates), drawn with cv2 (sub-pixel), one colour, into img, mask."""
    import cv2

    layer = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    for (cx0, cy0), r in zip(centres, radii):
        cyv = cy0 + dy[int(np.clip(cx0, 0, CANVAS_W - 1))]
        cv2.circle(layer, (int(round(cx0 * 16)), int(round(cyv * 16))), int(round(r * 16)),
                   1, -1, cv2.LINE_8, 4)
    hit = layer > 0
    img[hit] = np.asarray(color, np.float32)
    mask |= hit


def _burnthrough(img, mask, rng, grid, shape):
    """02: holes through the bead."""
    k = int(rng.integers(1, 4))
    xs_ = rng.uniform(BEAD_X0 + 20, BEAD_X1 - 20, k)
    ys_ = BEAD_Y + rng.uniform(-1.5, 1.5, k)
    _discs(img, mask, grid.dy, zip(xs_, ys_), rng.uniform(0.45, 0.7, k) * shape.half, (12, 10, 10))
    return img


def _surface_pores(img, mask, rng, grid, shape):
    """04 (on top of the sunken bead): surface pores."""
    k = int(rng.integers(8, 16))
    xs_ = rng.uniform(BEAD_X0 + 5, BEAD_X1 - 5, k)
    ys_ = BEAD_Y + rng.uniform(-0.5, 0.5, k) * shape.half
    _discs(img, mask, grid.dy, zip(xs_, ys_), rng.uniform(1.2, 2.2, k), (20, 18, 18))
    return img


def _undercut(img, mask, rng, grid, shape):
    """05: a dark groove along one bead edge."""
    xx, v, half = grid.xx, grid.v, shape.half
    side = float(rng.choice([-1, 1]))
    a = rng.uniform(BEAD_X0 + 10, BEAD_X0 + 70)
    b = a + rng.uniform(80, 120)
    g = (np.abs(v - (BEAD_Y + side * (half + 1.8))) < 1.6) & (xx > a) & (xx < b)
    img = np.where(g[..., None], img * 0.25, img)
    mask |= g
    return img


def _overlap(img, mask, rng, grid, shape):
    """06: metal rolled over the plate on one side, shadowed lip."""
    xx, v, half = grid.xx, grid.v, shape.half
    side = float(rng.choice([-1, 1]))
    a = rng.uniform(BEAD_X0 + 10, BEAD_X0 + 80)
    b = a + rng.uniform(70, 110)
    s = side * (v - BEAD_Y) - half
    lip = (s > -1) & (s < 0.55 * half + 2) & (xx > a) & (xx < b)
    lip_light = 150 - 40 * np.clip(s / (0.55 * half + 2), 0, 1)
    img = np.where(lip[..., None], np.stack([lip_light * 0.97, lip_light, lip_light * 1.04],
                                            -1), img)
    sh = (s >= 0.55 * half + 2) & (s < 0.55 * half + 4) & (xx > a) & (xx < b)
    img = np.where(sh[..., None], img * 0.3, img)
    mask |= lip | sh
    return img


def _excessive_convexity(img, mask, rng, grid, shape):
    """08: the (tall, narrow) bead itself; its shape comes from the process (surplus feed)."""
    mask |= shape.inside
    return img


def _spatter(img, mask, rng, grid, shape):
    """09: spatter balls near the bead, each with a small shadow."""
    half = shape.half
    k = int(rng.integers(20, 40))
    xs_ = rng.uniform(BEAD_X0 - 10, BEAD_X1 + 10, k)
    ys_ = BEAD_Y + rng.choice([-1.0, 1.0], k) * rng.uniform(half + 2, half + 12, k)
    rr = rng.uniform(1.0, 2.2, k)
    _discs(img, mask, grid.dy, zip(xs_ + 1, ys_ + 1), rr + 0.6, (25, 22, 20))
    _discs(img, mask, grid.dy, zip(xs_, ys_), rr, (190, 190, 196))
    return img


def _warping(img, mask, rng, grid, shape):
    """10: the bent bead region (the bend itself is in the plate, `_plate_bend`)."""
    mask |= (shape.dist < shape.half + 4) & (np.abs(grid.dy)[None, :] > 2.0)
    return img


def _crater_cracks(img, mask, rng, grid, shape):
    """11: dark lines radiating in the end crater."""
    import cv2

    crater_c, dy, half = shape.crater_c, grid.dy, shape.half
    crack = np.zeros((CANVAS_H, CANVAS_W), np.uint8)
    for _ in range(int(rng.integers(3, 6))):
        ang = rng.uniform(0, 2 * np.pi)
        ln = rng.uniform(0.6, 1.0) * half
        p0 = (int(crater_c[0]), int(crater_c[1] + dy[int(crater_c[0])]))
        p1 = (int(crater_c[0] + ln * np.cos(ang)), int(p0[1] + ln * np.sin(ang)))
        cv2.line(crack, p0, p1, 1, 1)
    c = crack > 0
    img = np.where(c[..., None], np.float32(15), img)
    mask |= cv2.dilate(crack, np.ones((3, 3), np.uint8)) > 0
    return img


_DEFECTS = {2: _burnthrough, 4: _surface_pores, 5: _undercut, 6: _overlap,
            8: _excessive_convexity, 9: _spatter, 10: _warping, 11: _crater_cracks}


# ------------------------------------------------------------------------------------- views


def _photograph(base_img: np.ndarray, mask_u8: np.ndarray, text: str, dy: np.ndarray,
                rng: np.random.Generator, label: bool, nuisance: Nuisance
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The N_VIEWS photos of the scene and their masks. The label's place (per sample) and jitter
    (per view) are drawn whether or not the label is drawn, so label=False changes nothing else."""
    tw, th = label_text_size(text)
    lw, lh = tw + 2 * LABEL_PAD_X, th + 2 * LABEL_PAD_Y
    lx = 200 - lw / 2 + float(rng.uniform(-8, 8))
    ly = LABEL_TOP_MIN + float(rng.uniform(0, 4))
    views, masks = [], []
    for _ in range(N_VIEWS):
        jx, jy = rng.uniform(-3, 3, 2)
        ang = float(rng.uniform(-12, 12))
        scale = float(rng.uniform(0.92, 1.05))
        tx = rng.uniform(-12, 12) + nuisance.photo_shift[0]
        ty = rng.uniform(-8, 8) + nuisance.photo_shift[1]
        corner_jit = rng.uniform(-6, 6, (4, 2))
        # (H, W, 3): the view's own exposure jitter and the session's lighting
        gain = (float(rng.uniform(0.96, 1.04)) * nuisance.photo_gain * np.array(nuisance.photo_cast)
                * lighting(nuisance, IMG_H, IMG_W)[..., None])
        scene = base_img.copy()
        if label:
            _draw_label(scene, text, lx + jx, ly + jy, lw, lh, th, dy)
        view, m = _warp_view(scene, mask_u8, _view_homography(ang, scale, tx, ty, corner_jit),
                             gain)
        views.append(view)
        masks.append(m)
    return views, masks


def _draw_label(scene: np.ndarray, text: str, x: float, y: float, lw: int, lh: int, th: int,
                dy: np.ndarray) -> None:
    """The paper label with the run id, its top-left at (x, y) on the bent plate (in place)."""
    import cv2

    x0 = int(round(x))
    y0 = int(round(y + dy[int(np.clip(x0 + lw / 2, 0, CANVAS_W - 1))]))
    cv2.rectangle(scene, (x0, y0), (x0 + lw, y0 + lh), (236, 236, 230), -1)
    cv2.putText(scene, text, (x0 + LABEL_PAD_X, y0 + LABEL_PAD_Y + th - 3), LABEL_FONT,
                LABEL_SCALE, (15, 15, 15), LABEL_THICKNESS, cv2.LINE_AA)


def _warp_view(scene: np.ndarray, mask_u8: np.ndarray, H_mat: np.ndarray, gain: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(the view, its bool mask): the scene and its mask seen through the view's homography."""
    import cv2

    view = cv2.warpPerspective(scene, H_mat, (IMG_W, IMG_H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
    view = np.clip(view.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)
    m = cv2.warpPerspective(mask_u8, H_mat, (IMG_W, IMG_H), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return view, m > 127


def _view_homography(ang, scale, tx, ty, corner_jit) -> np.ndarray:
    import cv2

    ox, oy = (CANVAS_W - IMG_W) / 2, (CANVAS_H - IMG_H) / 2
    src = np.array([[ox, oy], [ox + IMG_W, oy], [ox + IMG_W, oy + IMG_H], [ox, oy + IMG_H]],
                   np.float32)
    c = np.array([IMG_W / 2, IMG_H / 2])
    a = math.radians(ang)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    dst = (src - [ox, oy] - c) @ rot.T + c + [tx, ty] + corner_jit
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def encode_jpg(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def encode_png(mask: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    assert ok
    return buf.tobytes()
