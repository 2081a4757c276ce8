"""Identities: documented morphs of the real photographs shipped in installed packages.

The corpus needs many speakers but no face data may be downloaded. Two real frontal faces
ship inside installed packages: ``skimage.data.astronaut()`` (Eileen Collins, colour,
public domain NASA image) and matplotlib's sample ``grace_hopper.jpg`` (Grace Hopper, US
Navy photograph, public domain). Talking-head generators render frontal faces, and a
mouth defect is only visible where the mouth is (issue 26). ``skimage.data.camera()``
(the "cameraman") was a third source until then: a near-profile face whose mouth motion
barely shows, on which the sync measure found the injected offset for 0.2 of the videos
(0.8-0.9 on the frontal ones); it is not used. ``skimage.data.lfw_subset()`` faces are
25 x 25 px: found by Face Mesh once upscaled, but far too blurred to carry a
visual-quality study, so they are not used either. Each identity picks a source photo and
is then changed by smooth geometric warps (face width, eye spacing, jaw length), skin tone
(CIELAB), hair / background hue, a background colour blend, mirroring and a different
crop scale. Identity 0 is the unmodified astronaut photo. They are morphs of TWO people,
not distinct people: splits by ``group`` are leakage-free with respect to the morph (and
its voice and sentences), not to the underlying face.

MediaPipe Face Mesh (static mode) runs once per identity on the final image; its 468
landmarks (pixel coordinates) locate the mouth, jaw, eyes and brows for the renderer.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from tqa.core.atomic import atomic_path
from tqa.core.facemesh import face_mesh, quiet_native_stderr
from tqa.core.params import load_params
from tqa.data.corpus.profiles import OFF_SIZES

log = logging.getLogger(__name__)

# MediaPipe Face Mesh indices used by the renderer.
LM_UPPER_LIP, LM_LOWER_LIP = 13, 14
LM_MOUTH_LEFT, LM_MOUTH_RIGHT = 61, 291
LM_CHIN, LM_FOREHEAD, LM_NOSE = 152, 10, 1
LM_EYE_L_TOP, LM_EYE_L_BOT, LM_EYE_L_OUT, LM_EYE_L_IN = 159, 145, 33, 133
LM_EYE_R_TOP, LM_EYE_R_BOT, LM_EYE_R_OUT, LM_EYE_R_IN = 386, 374, 263, 362
LM_BROW_L, LM_BROW_R = 105, 334
LM_CHEEK_L, LM_CHEEK_R = 234, 454


@dataclass(frozen=True)
class IdentitySpec:
    """Morph parameters of one identity (all dimensionless unless stated)."""

    identity: int
    face_width: float = 1.0  # horizontal scale of the face region
    eye_spacing: float = 0.0  # eye shift outward, fraction of inter-ocular distance
    jaw_length: float = 1.0  # vertical scale below the mouth
    skin_a: float = 0.0  # CIELAB a* shift on the face (8-bit units)
    skin_b: float = 0.0  # CIELAB b* shift on the face
    skin_l: float = 1.0  # CIELAB L* gain on the face
    hair_hue: float = 0.0  # HSV hue rotation outside the face (degrees)
    mirror: bool = False
    crop_scale: float = 2.1  # crop side / face height
    source: int = 0  # index into SOURCES (0 astronaut, 1 Grace Hopper)
    bg_mix: float = 0.0  # blend of a flat background colour outside face and hair
    bg_hue: float = 0.0  # hue of that colour (degrees)


@dataclass
class Identity:
    """A rendered identity at one frame size: image (S, S, 3) uint8 RGB + landmarks (468, 3) px."""

    spec: IdentitySpec
    image: np.ndarray
    landmarks: np.ndarray

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


#: Real frontal face photographs inside installed packages: a function name in
#: ``skimage.data``, and ``grace_hopper``, matplotlib's sample ``grace_hopper.jpg``.
SOURCES: tuple[str, ...] = ("astronaut", "grace_hopper")


def identity_specs(n: int, seed: int) -> list[IdentitySpec]:
    """``n`` identity specs; identity 0 is the plain astronaut photo, the others are drawn
    from ``seed`` (identity i morphs source photo ``i % len(SOURCES)``)."""
    specs = [IdentitySpec(identity=0)]
    for i in range(1, n):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7919, i]))
        specs.append(
            IdentitySpec(
                identity=i,
                face_width=float(rng.uniform(0.84, 1.16)),
                eye_spacing=float(rng.uniform(-0.08, 0.08)),
                jaw_length=float(rng.uniform(0.85, 1.18)),
                skin_a=float(rng.uniform(-6, 14)),
                skin_b=float(rng.uniform(-8, 20)),
                skin_l=float(rng.uniform(0.7, 1.12)),
                hair_hue=float(rng.uniform(-60, 60)),
                mirror=bool(rng.random() < 0.5),
                crop_scale=float(rng.uniform(1.8, 2.5)),
                source=i % len(SOURCES),
                bg_mix=float(rng.uniform(0.0, 0.7)),
                bg_hue=float(rng.uniform(0, 360)),
            )
        )
    return specs


_MESH = None


def detect_landmarks(image: np.ndarray, static: bool = True) -> np.ndarray | None:
    """MediaPipe Face Mesh landmarks (468, 3) in pixels (z scaled like x), or None."""
    global _MESH
    if _MESH is None:
        _MESH = face_mesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
    with quiet_native_stderr():
        res = _MESH.process(np.ascontiguousarray(image))
    if not res.multi_face_landmarks:
        return None
    h, w = image.shape[:2]
    lm = np.array(
        [[p.x * w, p.y * h, p.z * w] for p in res.multi_face_landmarks[0].landmark],
        dtype=np.float32,
    )
    return lm


#: Committed Face Mesh landmarks (see :func:`write_landmark_table`). MediaPipe's float
#: inference (TFLite/XNNPack, its own OpenCV) gives other last bits on other CPUs; one such
#: bit moved a morph and changed every pixel of the corpus. So the corpus is rendered from
#: landmarks detected ONCE and committed (rounded to 1e-3 px); MediaPipe runs at build time
#: only for identities or sizes the table lacks (other seed / n_identities / frame sizes).
LANDMARK_TABLE = Path(__file__).with_name("landmarks.json")

#: Face Mesh indices the renderer and the morphs read from an identity's landmarks.
RIG_INDICES: tuple[int, ...] = (
    LM_UPPER_LIP, LM_LOWER_LIP, LM_MOUTH_LEFT, LM_MOUTH_RIGHT, LM_CHIN, LM_FOREHEAD, LM_NOSE,
    LM_EYE_L_TOP, LM_EYE_L_BOT, LM_EYE_L_OUT, LM_EYE_L_IN, LM_EYE_R_TOP, LM_EYE_R_BOT,
    LM_EYE_R_OUT, LM_EYE_R_IN, LM_BROW_L, LM_BROW_R, LM_CHEEK_L, LM_CHEEK_R,
)  # fmt: skip


@lru_cache(maxsize=1)
def _table() -> dict:
    if LANDMARK_TABLE.is_file():
        return json.loads(LANDMARK_TABLE.read_text(encoding="utf-8"))
    return {"sources": {}, "identities": {}}


def _identity_key(spec: IdentitySpec, size: int) -> str:
    blob = json.dumps({"spec": asdict(spec), "size": int(size)}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _source_image(index: int) -> np.ndarray:
    if SOURCES[index] == "grace_hopper":
        from matplotlib import cbook  # noqa: PLC0415 - needed only when an identity is built

        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            buf = np.frombuffer(fh.read(), dtype=np.uint8)
        return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    from skimage import data  # noqa: PLC0415 - heavy, needed only when an identity is built

    img = getattr(data, SOURCES[index])()
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return img


@lru_cache(maxsize=4)
def _source(index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source photo ``SOURCES[index]`` as RGB uint8 and its Face Mesh landmarks (468, 3) px
    (from the committed table when it has them)."""
    img = _source_image(index)
    stored = _table()["sources"].get(SOURCES[index])
    if stored is not None:
        return img, np.asarray(stored, dtype=np.float64)
    lm = detect_landmarks(img)
    if lm is None:  # pragma: no cover - would mean a broken mediapipe install
        raise RuntimeError(
            f"MediaPipe found no face in skimage.data.{SOURCES[index]}(); check mediapipe==0.10.14"
        )
    log.warning("landmarks of %s detected live (not in %s)", SOURCES[index], LANDMARK_TABLE.name)
    return img, np.round(lm.astype(np.float64), 3)


def _gauss(x: np.ndarray, c: float, s: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - c) / s) ** 2)


def _morph_geometry(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec) -> np.ndarray:
    """Backward-mapped smooth warps: face width, eye spacing, jaw length."""
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = lm[LM_NOSE, 0], lm[LM_NOSE, 1]
    face_h = lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1]
    face_w = lm[LM_CHEEK_R, 0] - lm[LM_CHEEK_L, 0]
    face_mask = _gauss(xx, cx, 0.7 * face_w) * _gauss(yy, cy, 0.75 * face_h)
    # face width: sample from x' = cx + (x - cx) / scale inside the face region
    dx = (xx - cx) * (1.0 / spec.face_width - 1.0) * face_mask
    dy = np.zeros_like(dx)
    # eye spacing: move each eye blob outward (sample from further inside)
    iod = lm[LM_EYE_R_OUT, 0] - lm[LM_EYE_L_OUT, 0]
    for out, inn, sign in ((LM_EYE_L_OUT, LM_EYE_L_IN, -1.0), (LM_EYE_R_OUT, LM_EYE_R_IN, 1.0)):
        ex, ey = (lm[out, 0] + lm[inn, 0]) / 2, (lm[out, 1] + lm[inn, 1]) / 2
        blob = _gauss(xx, ex, 0.22 * iod) * _gauss(yy, ey, 0.18 * iod)
        dx -= sign * spec.eye_spacing * iod * blob
    # jaw length: below the mouth, sample from y' = my + (y - my) / jaw
    my = lm[LM_LOWER_LIP, 1]
    below = 1.0 / (1.0 + np.exp(-(yy - my) / (0.04 * face_h)))
    jaw_mask = below * _gauss(xx, cx, 0.6 * face_w) * _gauss(yy, lm[LM_CHIN, 1], 0.5 * face_h)
    dy += (yy - my) * (1.0 / spec.jaw_length - 1.0) * jaw_mask
    # rounded to 1e-3 px: last-bit differences of exp() between machines cannot reach pixels
    map_x = (xx + np.round(dx.astype(np.float64), 3)).astype(np.float32)
    map_y = (yy + np.round(dy.astype(np.float64), 3)).astype(np.float32)
    return cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _hue_rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the hue of RGB ``img`` by ``degrees`` around the grey axis (float64 (H, W, 3)).

    Element-wise float64 arithmetic only (no OpenCV HSV round trip): OpenCV's HSV2RGB gave
    other bytes under another SIMD dispatch (tests/test_corpus.py), which made the corpus
    differ between machines."""
    th = math.radians(degrees)
    c, s_ = math.cos(th), math.sin(th)
    k = 1.0 / 3.0
    q = np.sqrt(k)
    a, b, d = c + (1 - c) * k, k * (1 - c) - q * s_, k * (1 - c) + q * s_
    x = img.astype(np.float64)
    r, g, bl = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([a * r + b * g + d * bl, d * r + a * g + b * bl, b * r + d * g + a * bl], -1)


def _morph_colour(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec) -> np.ndarray:
    """Skin tone shift (CIELAB) inside the face hull, hue rotation of the rest (hair,
    background) and a flat background colour blend. Float results are rounded before use
    so that last-bit differences between machines cannot reach the pixels."""
    h, w = img.shape[:2]
    hull = cv2.convexHull(lm[:, :2].astype(np.int32))
    mask8 = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask8, hull, 255)
    sigma = 0.08 * float(lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1]) / 3.0
    mask = gaussian_filter(mask8.astype(np.float64) / 255.0, sigma, mode="nearest")
    mask = np.round(mask, 4)[..., None]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= spec.skin_l
    lab[..., 1] += spec.skin_a
    lab[..., 2] += spec.skin_b
    skin = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float64)
    rest = np.round(_hue_rotate(img, spec.hair_hue), 3)
    if spec.bg_mix > 0:  # flat background colour outside a wide face + hair ellipse
        cx, cy = float(np.mean(lm[:, 0])), float(np.mean(lm[:, 1]))
        face_h = float(lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        r = ((xx - cx) / (0.85 * face_h)) ** 2 + ((yy - cy + 0.15 * face_h) / (1.0 * face_h)) ** 2
        bg = np.round(np.clip((r - 1.0) / 0.6, 0.0, 1.0) * spec.bg_mix, 4)[..., None]
        colour = np.round(np.array(colorsys.hsv_to_rgb(spec.bg_hue / 360.0, 0.47, 0.67)) * 255, 3)
        rest = (1 - bg) * rest + bg * colour
    out = mask * skin + (1 - mask) * rest
    return np.clip(np.round(out, 3) + 0.5, 0, 255).astype(np.uint8)


def _crop(img: np.ndarray, lm: np.ndarray, spec: IdentitySpec, size: int) -> np.ndarray:
    """Square crop around the face (side = crop_scale x face height), resized to ``size``."""
    face_h = lm[LM_CHIN, 1] - lm[LM_FOREHEAD, 1]
    side = spec.crop_scale * face_h
    cx = float(np.mean(lm[:, 0]))
    cy = float(np.mean(lm[:, 1])) + 0.05 * face_h
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _milder(spec: IdentitySpec, f: float) -> IdentitySpec:
    """``spec`` with every morph moved a fraction ``f`` of the way back to neutral."""
    neutral = IdentitySpec(identity=spec.identity, source=spec.source)
    kw = {}
    for k in (
        "face_width",
        "eye_spacing",
        "jaw_length",
        "skin_a",
        "skin_b",
        "skin_l",
        "hair_hue",
        "crop_scale",
        "bg_mix",
    ):
        kw[k] = (1 - f) * getattr(spec, k) + f * getattr(neutral, k)
    return replace(spec, **kw)


def _render_identity(spec: IdentitySpec, size: int) -> np.ndarray:
    src, lm = _source(spec.source)
    img = _morph_geometry(src, lm, spec)
    img = _morph_colour(img, lm, spec)
    img = _crop(img, lm, spec, size)
    if spec.mirror:
        img = np.ascontiguousarray(img[:, ::-1])
    return img


def detect_identity(spec: IdentitySpec, size: int) -> tuple[float, np.ndarray]:
    """(softening, landmarks (468, 3)) found by Face Mesh on identity ``spec`` at ``size``.

    When Face Mesh misses the morphed face, the morph is made milder (halfway, then fully
    back to the source photo's geometry and colours): deterministic, and recorded."""
    for f in (0.0, 0.5, 1.0):
        sp = spec if f == 0.0 else _milder(spec, f)
        lm = detect_landmarks(_render_identity(sp, size))
        if lm is not None:
            if f > 0:
                log.info("identity %d: morph softened by %.1f for Face Mesh", spec.identity, f)
            return f, np.round(lm.astype(np.float64), 3)
    raise RuntimeError(f"MediaPipe found no face in identity {asdict(spec)} at {size}px")


def make_identity(spec: IdentitySpec, size: int) -> Identity:
    """Render identity ``spec`` at ``size`` x ``size`` px with its landmarks: from the
    committed table (rows RIG_INDICES; the others NaN) or, when it lacks them, Face Mesh."""
    entry = _table()["identities"].get(_identity_key(spec, size))
    if entry is not None:
        f = float(entry["soften"])
        lm = np.full((468, 3), np.nan)
        lm[list(RIG_INDICES)] = np.asarray(entry["points"], dtype=np.float64)
    else:
        log.warning(
            "identity %d at %d px not in %s: landmarks detected live (bytes may then differ "
            "between machines; `python -m tqa.data.corpus.face` rewrites the table)",
            spec.identity,
            size,
            LANDMARK_TABLE.name,
        )
        f, lm = detect_identity(spec, size)
    sp = spec if f == 0.0 else _milder(spec, f)
    return Identity(spec=sp, image=_render_identity(sp, size), landmarks=lm)


def write_landmark_table(
    n_identities: int, seed: int, sizes: tuple[int, ...], path: Path = LANDMARK_TABLE
) -> dict:
    """Detect and write the committed landmark table for ``n_identities`` identities of
    ``seed`` at each frame side in ``sizes`` (rounded to 1e-3 px)."""
    _table.cache_clear()
    _source.cache_clear()
    table: dict = {"sources": {}, "identities": {}, "note": "tqa.data.corpus.face, Face Mesh"}
    for i, name in enumerate(SOURCES):
        lm = detect_landmarks(_source_image(i))
        if lm is None:  # pragma: no cover
            raise RuntimeError(f"MediaPipe found no face in skimage.data.{name}()")
        table["sources"][name] = np.round(lm.astype(np.float64), 3).tolist()
    with atomic_path(path) as tmp:  # the morphs below read these rounded source landmarks
        Path(tmp).write_text(json.dumps(table), encoding="utf-8")
    _table.cache_clear()
    _source.cache_clear()
    for spec in identity_specs(n_identities, seed):
        for size in sizes:
            f, lm = detect_identity(spec, int(size))
            table["identities"][_identity_key(spec, int(size))] = {
                "identity": spec.identity,
                "size": int(size),
                "soften": f,
                "points": lm[list(RIG_INDICES)].tolist(),
            }
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(table, separators=(",", ":")), encoding="utf-8")
    _table.cache_clear()
    _source.cache_clear()
    return table


@lru_cache(maxsize=64)
def cached_identity(spec: IdentitySpec, size: int) -> Identity:
    """Per-process cache: landmarks are computed once per (identity, size)."""
    return make_identity(spec, size)


def main(argv: list[str] | None = None) -> int:
    """``python -m tqa.data.corpus.face``: rewrite the committed landmark table for params."""
    params = load_params()
    cfg = params["corpus"]
    sizes = tuple(sorted({int(cfg["size"]), *(max(h, w) for h, w in OFF_SIZES)}))
    table = write_landmark_table(int(cfg["n_identities"]), int(params["seed"]), sizes)
    print(f"{LANDMARK_TABLE}: {len(table['identities'])} identity x size entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
