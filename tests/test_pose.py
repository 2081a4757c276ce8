"""The ``pose`` au extractor and its ``tqa metrics`` columns against independent oracles:
scipy rotations of known angles, closed-form speeds, frozen and missing faces, the registry,
and the real recordings of ../shared/realclips (skipped when absent)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from tqa.core.clip import Clip
from tqa.core.params import ROOT
from tqa.data.corpus.face import LANDMARK_TABLE
from tqa.features.decode import load_clip
from tqa.features.extractors import au_pose as P
from tqa.features.extractors.base import get_extractor
from tqa.features.extractors.landmarks_mediapipe import detect_landmarks
from tqa.features.face_dynamics import (
    FROZEN_SPEED,
    face_dynamics_metrics,
    frozen_expression,
    head_speech_coupling,
    moving_mean,
)
from tqa.features.video_metrics import clip_metrics

FPS = 25.0
CLIPS = ROOT.parent / "shared" / "realclips"
col = {c: i for i, c in enumerate(P.COLUMNS)}


def portrait(name: str = "grace_hopper") -> np.ndarray:
    """(468, 3) Face Mesh pixel landmarks of a committed source portrait."""
    return np.asarray(json.loads(LANDMARK_TABLE.read_text())["sources"][name], np.float64)


def posed(shape: np.ndarray, yaw: float, pitch: float, roll: float, px: float = 90.0):
    """``shape`` (K, 3) centred, rotated by R = Rz(roll) Ry(yaw) Rx(pitch) (scipy), scaled to
    ``px`` pixels per unit and moved into a 256 px frame (orthographic, z in x's scale)."""
    rot = Rotation.from_euler("ZYX", [roll, yaw, pitch], degrees=True)
    c = shape - np.nanmean(shape, axis=0)
    return rot.apply(c) * px + np.array([128.0, 120.0, 0.0])


def on_mesh(stable: np.ndarray) -> np.ndarray:
    """(1, 468, 3) landmarks with ``stable`` at the STABLE points, NaN elsewhere."""
    lm = np.full((1, 468, 3), np.nan)
    lm[0, list(P.STABLE)] = stable
    return lm


ANGLES = [(0, 0, 0), (30, 0, 0), (-35, 0, 0), (0, 25, 0), (0, -20, 0), (0, 0, 20),
          (-40, 15, -10), (25, -20, 12), (15, 10, -25)]  # fmt: skip


@pytest.mark.parametrize("yaw, pitch, roll", ANGLES)
def test_recovers_known_angles_of_the_reference(yaw, pitch, roll) -> None:
    """The frontal reference rotated by known angles, with 0.3 px landmark noise."""
    lm = on_mesh(posed(P.reference_shape(), yaw, pitch, roll))
    lm += np.random.default_rng(0).normal(0, 0.3, lm.shape)
    angles, _ = P.head_pose(lm)
    assert angles[0] == pytest.approx([yaw, pitch, roll], abs=2.0)


@pytest.mark.parametrize("yaw, pitch, roll", ANGLES)
@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_recovers_rotations_of_a_real_face(name, yaw, pitch, roll) -> None:
    """A real (not symmetric, not frontal) face, all 468 points: the estimate of the rotated
    face is the known rotation composed with the estimate of the face itself (within 2 deg)."""
    face = portrait(name)
    a0, _ = P.head_pose(posed(face, 0, 0, 0)[None])
    a1, _ = P.head_pose(posed(face, yaw, pitch, roll)[None])
    as_rot = lambda a: Rotation.from_euler("ZYX", [a[2], a[0], a[1]], degrees=True)  # noqa: E731
    want = Rotation.from_euler("ZYX", [roll, yaw, pitch], degrees=True) * as_rot(a0[0])
    assert np.degrees((as_rot(a1[0]) * want.inv()).magnitude()) < 2.0


def test_reference_is_frontal_symmetric_and_from_the_corpus_table() -> None:
    assert P.REFERENCE_TABLE == LANDMARK_TABLE
    ref = P.reference_shape()
    idx = {p: i for i, p in enumerate(P.STABLE)}
    for a, b in P.STABLE_PAIRS:
        assert ref[idx[a]] * [-1, 1, 1] == pytest.approx(ref[idx[b]], abs=1e-6)
    assert np.abs(ref[[idx[m] for m in P.STABLE_MIDLINE], 0]).max() < 1e-6
    assert np.linalg.norm(ref[idx[263]] - ref[idx[33]]) == pytest.approx(1.0)
    assert ref[idx[1], 2] < ref[idx[234], 2]  # the nose tip is nearer the camera (z smaller)
    assert P.head_pose(on_mesh(posed(ref, 0, 0, 0)))[0] == pytest.approx(np.zeros((1, 3)), abs=1e-6)


def test_speeds_of_a_turning_head_and_an_opening_mouth() -> None:
    """A yaw ramp of 0.4 deg/frame applied to a real face: the speeds of the Euler angles scipy
    gives for the composed rotations; lower lip 0.2 px/frame down -> 0.2 * 25 / IOD."""
    face = portrait()
    iod = np.linalg.norm(face[263] - face[33])
    lm = np.stack([posed(face, 0.4 * t, 0, 0, px=1.0) for t in range(30)])
    out = P.pose_dynamics(lm, FPS)
    a0 = P.head_pose(lm[:1])[0][0]
    own = Rotation.from_euler("ZYX", [a0[2], a0[0], a0[1]], degrees=True)
    turns = [Rotation.from_euler("Y", 0.4 * t, degrees=True) * own for t in range(30)]
    euler = np.array([r.as_euler("ZYX", degrees=True) for r in turns])[:, [1, 2, 0]]
    d = np.abs(np.diff(euler, axis=0)) * FPS
    want = (np.vstack([d[:1], d]) + np.vstack([d, d[-1:]])) / 2
    assert out[:, 3:6] == pytest.approx(want, abs=0.05)
    assert out[:, col["yaw_speed"]] == pytest.approx(np.full(30, 10.0), abs=0.2)
    lm = np.repeat(posed(face, 0, 0, 0, px=1.0)[None], 30, axis=0)
    lower = [b for _, b in P.INNER_LIP_PAIRS]
    lm[:, lower, 1] += 0.2 * np.arange(30)[:, None]
    out = P.pose_dynamics(lm, FPS)
    want = 0.2 * FPS / iod
    assert np.median(out[:, col["mouth_open_speed"]]) == pytest.approx(want, rel=0.05)
    assert out[:, col["brow_speed"]].max() < 0.05 * want


def test_frozen_face_reads_zero_speeds_and_frozen_expression_one() -> None:
    lm = np.repeat(posed(portrait(), 10, -5, 3)[None], 50, axis=0)
    out = P.pose_dynamics(lm, FPS)
    assert out.shape == (50, len(P.COLUMNS)) and out.dtype == np.float32
    assert np.all(out[:, 3:] == 0)
    m = face_dynamics_metrics(out, FPS)
    assert m == {"head_pose_std": 0.0, "expression_motion": 0.0, "frozen_expression": 1.0}
    moving = out.copy()
    moving[::2, col["eye_speed"]] = 10 * FROZEN_SPEED
    assert frozen_expression(moving) == pytest.approx(0.5)


def test_nan_rows_stay_nan_and_their_neighbours_use_one_side() -> None:
    lm = np.stack([posed(portrait(), 0.5 * t, 0, 0) for t in range(20)])
    lm[[0, 7, 8, 19]] = np.nan
    out = P.pose_dynamics(lm, FPS)
    assert np.isnan(out[[0, 7, 8, 19]]).all()
    rest = np.delete(out, [0, 7, 8, 19], axis=0)
    assert np.isfinite(rest).all()
    assert out[[1, 6, 9, 18], col["yaw_speed"]] == pytest.approx(np.full(4, 12.5), abs=0.1)
    assert np.isnan(P.pose_dynamics(np.full((5, 468, 3), np.nan), FPS)).all()


def test_registry_stacks_geometry_and_pose() -> None:
    ext = get_extractor("au", "geometry+pose", {})
    names = ext.feature_names()
    assert ext.dim == 17 + len(P.COLUMNS) == len(names)
    assert names[17:] == [f"au__pose_{c}" for c in P.COLUMNS]
    lm = np.stack([posed(portrait(), t, 0, 0) for t in range(10)]).astype(np.float32)
    clip = Clip("v", "v.mp4", np.zeros((10, 8, 8, 3), np.uint8), np.zeros(6400, np.float32))
    out = ext.extract(clip, {"landmarks_px": lm})
    assert out.shape == (10, ext.dim)
    assert out[:, 17:] == pytest.approx(P.pose_dynamics(lm, 25.0), nan_ok=True)
    assert ext.describe()["parts"][1]["reference"] == P.reference_digest()
    with pytest.raises(RuntimeError, match="landmarks_px"):
        get_extractor("au", "pose", {}).extract(clip, {})


def test_moving_mean_and_coupling_against_pandas_and_planted_signals() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=60)
    x[[5, 30]] = np.nan
    want = pd.Series(x).rolling(5, center=True, min_periods=1).mean().to_numpy().copy()
    want[[5, 30]] = np.nan
    assert moving_mean(x, 5) == pytest.approx(want, nan_ok=True)
    env = np.abs(np.sin(np.arange(150) / 7.0)) * 30
    pose = np.zeros((150, len(P.COLUMNS)))
    pose[:, col["yaw_speed"]] = env
    assert head_speech_coupling(pose, env, FPS) == pytest.approx(1.0)
    assert head_speech_coupling(pose, -env, FPS) == pytest.approx(-1.0)
    assert math.isnan(head_speech_coupling(np.zeros_like(pose), env, FPS))
    assert math.isnan(head_speech_coupling(pose[:10], env[:10], FPS))


needs_clips = pytest.mark.skipif(
    not (CLIPS / "recordings").is_dir(),
    reason=f"real clips not found at {CLIPS} (../shared/realclips beside the repository)",
)


@pytest.fixture(scope="module")
def recordings() -> list[tuple[Clip, np.ndarray]]:
    out = []
    for f in sorted((CLIPS / "recordings").glob("*.mp4")):
        clip = load_clip(f, f.stem, fps=25, n_frames=150, sample_rate=16000, max_side=256)
        n = int(np.sum(clip.meta["valid_frames"]))
        out.append((clip, detect_landmarks(clip.frames[:n])))
    return out


@needs_clips
def test_real_recordings_have_plausible_poses(recordings) -> None:
    """People facing a camera: yaw and pitch within +-30 deg, roll within +-20, the head
    moving (some deg of std) but not wildly, and no frozen face."""
    for clip, lm in recordings:
        out = get_extractor("au", "pose", {}).extract(clip, {"landmarks_px": lm})
        assert np.isfinite(out).all(), clip.path
        med = np.median(out[:, :3], axis=0)
        assert np.abs(med[:2]).max() < 30 and abs(med[2]) < 20, (clip.path, med)
        m = face_dynamics_metrics(out, FPS)
        assert 0.3 < m["head_pose_std"] < 15, (clip.path, m)
        assert 0.02 < m["expression_motion"] < 2 and m["frozen_expression"] < 0.1, (clip.path, m)


@needs_clips
def test_real_recording_metrics_columns(recordings) -> None:
    clip, lm = recordings[0]
    row = clip_metrics(clip, {}, syncnet=False, landmarks=lm)
    for c in ("head_pose_std", "head_speech_coupling", "expression_motion", "frozen_expression",
              "still_mouth", "expression_variety", "expression_flicker"):  # fmt: skip
        assert math.isfinite(row[c]), c
    assert -1 <= row["head_speech_coupling"] <= 1
    assert 0 <= row["expression_variety"] <= 1 and 0 <= row["expression_flicker"] <= 1
    assert 0 <= row["still_mouth"] < 0.5  # a person speaking: the mouth moves with the speech


def test_umeyama_never_returns_a_reflection() -> None:
    """A mirror image is best fitted by a reflection; the fit must stay a rotation (Umeyama's
    sign correction), with the scale of a rigid fit."""
    ref = P.reference_shape()
    s, rot, _ = P.umeyama(ref, (ref * [-1.0, 1.0, 1.0])[None])
    assert np.linalg.det(rot[0]) == pytest.approx(1.0)
    assert rot[0] @ rot[0].T == pytest.approx(np.eye(3), abs=1e-9)
    s2, _, _ = P.umeyama(ref, (2.0 * ref)[None])
    assert s2[0] == pytest.approx(2.0) and s[0] < 1.0
