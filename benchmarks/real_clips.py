"""Real-footage benchmark (issue "Scores that mean something on real videos").

    .venv/bin/python benchmarks/real_clips.py [--clips ../shared/realclips] [--bundle models/bundle]

On the clips of ``../shared/realclips`` (never copied into the repository) it measures:

1. **Lip sync** (weight-free ``correlation`` extractor): each in-sync recording decoded
   once (tqa grid, Face Mesh once), its audio delayed by k = +-3, +-5, +-10, +-15 frames
   (in memory: ``k * 640`` samples of zeros in front, + = audio late, as ffmpeg ``adelay``),
   and dubbed with foreign audio (``speech/1.wav``, ``speech/2.wav``, the next recording's
   audio). Targets: |offset| <= 1 on >= 4 of 5 originals; estimate within +-1 of k in
   >= 90 % of the 40 shifted cases; confidence at the original > at |k| >= 5 in >= 90 % of
   the 30 pairs; confidence under every foreign audio < own on >= 4 of 5 clips.
2. **DNSMOS and BRISQUE per clip** (recordings and generated), via ``tqa metrics``'s
   per-video function.
3. **DNSMOS OVRL vs added white noise** at SNR 30 / 20 / 10 / 5 dB (relative to the clip's
   audio power, seed 0): monotonic fall on every recording (the extractor's per-video
   setting: P.835 on one 9.01 s tiled window of the clip's real audio).
4. **Swap test**: one audio track (recording 1's) under the 8 videos: std over videos of the
   ``dnsmos`` audio features (audio-only by construction) and, when a trained bundle is
   given (``--bundle``, default ``models/bundle`` if present), of its ``audio_quality`` score
   on the muxed files. Target: std <= 0.05.
5. **Ctrl-C**: ``tqa metrics`` and ``tqa extract`` with ``--workers 2`` on links to the 8
   clips, SIGINT to the process group once the first video is done; seconds from the signal to
   exit, exit status, traceback or not, rows / counts written.
6. **A still picture with the voice running** (needs the bundle): each recording's first
   frame held for the recording's length (ffmpeg ``loop``, 25 fps) under its own audio, and the
   recording itself, scored by ``tqa score``. A frozen face does not lip-sync, so it should
   read below its recording on lip_sync, expression and overall; the weight-free sync
   columns should read it as out of sync (distance higher, confidence lower). Counts of the
   recordings where it does; reported, no target (no issue names one).

Writes ``reports/real_clips.md`` and ``reports/real_clips.json`` (repository-relative paths).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqa.core.atomic import write_json, write_text
from tqa.core.clip import Clip
from tqa.core.params import ROOT, load_params
from tqa.core.schema import TASKS
from tqa.features.decode import _decode_audio, load_clip
from tqa.features.extractors.audio_dnsmos import DnsmosAudio
from tqa.features.extractors.landmarks_mediapipe import detect_landmarks
from tqa.features.extractors.sync_correlation import CorrelationSync, clip_sync
from tqa.features.nets.dnsmos import dnsmos_scores
from tqa.features.video_metrics import video_metrics
from tqa.study.defects.real import recording_files

SHIFTS = (-15, -10, -5, -3, 3, 5, 10, 15)
#: Grid frames decoded per recording (10 s at 25 fps: every recording is whole, 4.9-6.6 s).
MAX_FRAMES = 250
SNRS = (30, 20, 10, 5)
FPS, SR = 25, 16000
HOP = SR // FPS


def shift_audio(a: np.ndarray, k: int) -> np.ndarray:
    """Audio delayed by k frames (k > 0: zeros in front), same length."""
    s = k * HOP
    if s >= 0:
        return np.concatenate([np.zeros(s, a.dtype), a[: len(a) - s]])
    return np.concatenate([a[-s:], np.zeros(-s, a.dtype)])


def with_snr(a: np.ndarray, n_valid: int, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise added to the first ``n_valid`` samples at ``snr_db`` dB below their power."""
    x = a.astype(np.float64).copy()
    p = np.mean(x[:n_valid] ** 2)
    noise = np.random.default_rng(seed).normal(0, np.sqrt(p / 10 ** (snr_db / 10)), n_valid)
    x[:n_valid] += noise
    return np.clip(x, -1, 1).astype(np.float32)


def rel(p: Path) -> str:
    """Path relative to the repository root, with ../ when outside (no machine paths)."""
    return os.path.relpath(p.resolve(), ROOT.resolve())


def grid_cut(c: Clip, lm: np.ndarray, n_frames: int = 150) -> tuple[Clip, np.ndarray]:
    """The first ``n_frames`` of a decoded clip (what the 6 s tqa grid of `tqa score` sees)."""
    meta = {**c.meta, "valid_frames": np.asarray(c.meta["valid_frames"])[:n_frames]}
    cut = Clip(c.video_id, c.path, c.frames[:n_frames], c.audio[: n_frames * HOP], meta=meta)
    return cut, lm[:n_frames]


def decode_recordings(clips: Path) -> list:
    """(file, clip, landmarks, n_valid) of each recording, whole (up to 10 s, as tqa metrics)."""
    out = []
    for f in recording_files(clips / "recordings"):
        c = load_clip(f, n_frames=MAX_FRAMES)
        out.append((f, c, detect_landmarks(c.frames), int(c.meta["n_valid"])))
    return out


def sync_bench(clips: Path, decoded: list, n_frames: int | None = None) -> dict:
    """Targets of the issue on whole recordings (``n_frames`` None) or their first n_frames."""
    if n_frames is not None:
        decoded = [(f, *grid_cut(c, lm, n_frames), min(n, n_frames)) for f, c, lm, n in decoded]
    length = len(decoded[0][1].audio)
    foreign = {
        f"speech{w.stem}": _decode_audio(str(w), 0.0, length, SR)
        for w in sorted((clips / "speech").glob("*.wav"))
    }

    def est(c, lm, audio):
        return clip_sync(c.frames, lm, audio, SR, FPS, 15, c.meta["valid_frames"])

    rows = []
    for i, (f, c, lm, _) in enumerate(decoded):
        orig = est(c, lm, c.audio)
        r = {"clip": f"recordings/{f.stem}.mp4", "original": orig.detail(), "shifts": {}}
        for k in SHIFTS:
            r["shifts"][str(k)] = est(c, lm, shift_audio(c.audio, k)).detail()
        nxt = decoded[(i + 1) % len(decoded)]
        dubs = {**foreign, f"rec{nxt[0].stem}": nxt[1].audio}
        r["foreign"] = {name: est(c, lm, a).detail() for name, a in dubs.items()}
        rows.append(r)

    t1 = sum(abs(r["original"]["offset"]) <= 1 for r in rows)
    t2 = [abs(r["shifts"][str(k)]["offset"] - k) <= 1 for r in rows for k in SHIFTS]
    t3 = [
        r["original"]["confidence"] > r["shifts"][str(k)]["confidence"]
        for r in rows
        for k in SHIFTS
        if abs(k) >= 5
    ]
    t3d = [
        r["original"]["distance"] < r["shifts"][str(k)]["distance"]
        for r in rows
        for k in SHIFTS
        if abs(k) >= 5
    ]
    t4 = [
        all(r["original"]["confidence"] > v["confidence"] for v in r["foreign"].values())
        for r in rows
    ]
    t4_pairs = [
        r["original"]["confidence"] > v["confidence"] for r in rows for v in r["foreign"].values()
    ]
    t3_best = [
        r["original"]["best_confidence"] > r["shifts"][str(k)]["best_confidence"]
        for r in rows
        for k in SHIFTS
        if abs(k) >= 5
    ]
    targets = {
        "T1 original |offset| <= 1 (>= 4 of 5)": [t1, len(rows), t1 >= 4],
        "T2 within +-1 of the injected shift (>= 90 %)": [
            int(sum(t2)),
            len(t2),
            sum(t2) >= 0.9 * len(t2),
        ],
        "T3 confidence original > shifted |k| >= 5 (>= 90 % of pairs)": [
            int(sum(t3)),
            len(t3),
            sum(t3) >= 0.9 * len(t3),
        ],
        "T4 confidence own > every foreign audio (>= 4 of 5 clips)": [
            int(sum(t4)),
            len(t4),
            sum(t4) >= 4,
        ],
    }
    info = {
        "T3 with distance (lower at original)": [int(sum(t3d)), len(t3d)],
        "T3 with SyncNet's best-lag rule (median - min), for comparison": [
            int(sum(t3_best)),
            len(t3_best),
        ],
        "T4 pairs (own > foreign)": [int(sum(t4_pairs)), len(t4_pairs)],
    }
    return {"rows": rows, "targets": targets, "info": info}


def quality_bench(clips: Path, decoded) -> dict:
    files = recording_files(clips / "recordings") + recording_files(clips / "generated")
    per_clip = {}
    for f in files:
        m = video_metrics(str(f), load_params()["features"], max_seconds=6.0, syncnet=False)
        per_clip[f"{f.parent.name}/{f.name}"] = {
            k: m[k]
            for k in (
                "dnsmos_sig",
                "dnsmos_bak",
                "dnsmos_ovrl",
                "dnsmos_p808",
                "brisque_face",
                "brisque_frame",
            )
        }
    noise = {}
    for f, c, _, n in decoded:
        n = min(n, 150)  # the extractor's 6 s grid
        ns = int(round(n / FPS * SR))
        vals = [dnsmos_scores(c.audio, SR, 1, valid_samples=ns)["ovrl"]]
        vals += [
            dnsmos_scores(with_snr(c.audio, ns, s), SR, 1, valid_samples=ns)["ovrl"] for s in SNRS
        ]
        noise[f"recordings/{f.name}"] = {
            "ovrl": vals,
            "monotonic": bool(np.all(np.diff(vals) < 0)),
        }
    return {"per_clip": per_clip, "noise": noise}


def swap_bench(clips: Path, decoded, bundle: Path | None, tmp: Path) -> dict:
    """One audio (recording 1's) under every video: dnsmos features and bundle audio_quality."""
    videos = [d[0] for d in decoded] + recording_files(clips / "generated")
    clips_v = [load_clip(v) for v in videos]
    n = min(int(c.meta["n_valid"]) for c in clips_v)  # one length: the same audio everywhere
    audio = decoded[0][1].audio[: 150 * HOP].copy()
    ext = DnsmosAudio({"dnsmos_p835": True})  # every column, P.835 included
    feats = []
    for c in clips_v:
        c.meta["valid_frames"] = np.arange(c.n_frames) < n
        c.audio = audio.copy()
        feats.append(np.nanmean(ext.extract(c, {})[:n], axis=0))
    feats = np.array(feats)
    out = {
        "audio": "recordings/1.mp4",
        "seconds": n / FPS,
        "videos": [f"{v.parent.name}/{v.name}" for v in videos],
        "dnsmos_std_over_videos": dict(
            zip(ext.columns, np.nanstd(feats, axis=0).round(4).tolist())
        ),
    }
    if bundle is None:
        out["audio_quality"] = None
        out["note"] = (
            "no trained bundle given (--bundle): the learned audio_quality was not measured"
        )
        return out
    import imageio_ffmpeg

    from tqa.serve.scoring import score

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    muxed = []
    for v in videos:
        o = tmp / f"swap_{v.parent.name}_{v.stem}.mp4"
        subprocess.run(
            [
                ff,
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(v),
                "-i",
                str(decoded[0][0]),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-t",  # one length for all: the same audio samples under every video
                f"{n / FPS:.2f}",
                str(o),
            ],
            check=True,
        )
        muxed.append(o)
    df = score(muxed, model=bundle, workers=1, progress=False, cache_dir=tmp / "score_cache")
    aq = df["audio_quality"].astype(float).to_numpy()
    out["audio_quality"] = dict(zip(out["videos"], np.round(aq, 4).tolist()))
    out["audio_quality_std"] = float(np.nanstd(aq))
    out["target_met"] = bool(np.nanstd(aq) <= 0.05)
    return out


def still_bench(decoded: list, bundle: Path | None, tmp: Path) -> dict:
    """Each recording and its first frame held still under its own audio, scored (item 6)."""
    if bundle is None:
        return {"note": "no trained bundle given (--bundle): not measured"}
    import imageio_ffmpeg

    from tqa.serve.scoring import score

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    stills = []
    for f, _, _, n_valid in decoded:
        o = tmp / f"still_{f.stem}.mp4"
        subprocess.run(
            [ff, "-loglevel", "error", "-y", "-i", str(f), "-i", str(f), "-filter_complex",
             "[0:v]select=eq(n\\,0),loop=loop=-1:size=1,setpts=N/25/TB[v]", "-map", "[v]",
             "-map", "1:a", "-r", "25", "-t", f"{n_valid / FPS:.2f}", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-c:a", "aac", str(o)],
            check=True,
        )  # fmt: skip
        stills.append(o)
    files = [d[0] for d in decoded] + stills
    df = score(files, model=bundle, workers=1, progress=False, cache_dir=tmp / "still_cache")
    cols = [*TASKS, "sync_offset", "sync_confidence", "sync_distance"]
    n = len(decoded)
    orig, still = df.iloc[:n][cols].astype(float), df.iloc[n:][cols].astype(float)
    rows = {}
    for i, (f, *_) in enumerate(decoded):
        rows[f.name] = {"original": orig.iloc[i].round(3).tolist(),
                        "still": still.iloc[i].round(3).tolist()}  # fmt: skip
    below = {t: int(np.sum(still[t].to_numpy() < orig[t].to_numpy())) for t in TASKS}
    return {
        "columns": cols,
        "rows": rows,
        "still_below_original": below,
        "sync_distance_higher": int(np.sum(still["sync_distance"].to_numpy()
                                           > orig["sync_distance"].to_numpy())),
        "sync_confidence_lower": int(np.sum(still["sync_confidence"].to_numpy()
                                            < orig["sync_confidence"].to_numpy())),
        "n": n,
    }  # fmt: skip


def _interrupt(cmd: list[str], done_glob: Path) -> tuple[float, int, bool]:
    """Run ``cmd`` in its own process group, SIGINT the group once ``done_glob`` matches a
    file (one video finished); (seconds from the signal to exit, exit status, traceback?)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < 300 and not list(done_glob.parent.glob(done_glob.name)):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    t_sig = time.monotonic()
    _, stderr = proc.communicate(timeout=120)
    return time.monotonic() - t_sig, proc.returncode, "Traceback" in stderr.decode(errors="replace")


def ctrl_c_bench(clips: Path, tmp: Path) -> dict:
    """SIGINT to a 2-worker `tqa metrics` and `tqa extract` after their first finished video."""
    src = recording_files(clips / "recordings") + recording_files(clips / "generated")
    d = tmp / "ds" / "videos"
    d.mkdir(parents=True)
    for i, f in enumerate(src):  # links, not copies
        (d / f"v{i:02d}.mp4").symlink_to(f.resolve())
    labels = pd.DataFrame({"video_id": [f"v{i:02d}" for i in range(len(src))]})
    for t in TASKS:
        labels[t] = 3.0
    labels.to_csv(tmp / "ds" / "labels.csv", index=False)
    out = tmp / "metrics_out"
    py = [sys.executable, "-m", "tqa.cli"]
    res = {}
    secs, rc, tb = _interrupt(
        [*py, "metrics", str(d), "--out", str(out), "--workers", "2", "--quiet", "--no-plot"],
        out / ".cache" / "*.json",
    )
    rows = pd.read_csv(out / "metrics.csv") if (out / "metrics.csv").is_file() else None
    res["metrics"] = {
        "command": f"tqa metrics <{len(src)} links> --workers 2",
        "seconds_signal_to_exit": round(secs, 2),
        "exit_status": rc,
        "traceback": tb,
        "rows_done": None if rows is None else int((rows["status"] == "ok").sum()),
        "rows_interrupted": None if rows is None else int((rows["status"] == "interrupted").sum()),
    }
    cache, summary = tmp / "extract_cache", tmp / "extract_summary.json"
    secs, rc, tb = _interrupt(
        [
            *py,
            "extract",
            "--root",
            str(tmp / "ds"),
            "--cache",
            str(cache),
            "--workers",
            "2",
            "--summary",
            str(summary),
            "--no-progress",
        ],
        cache / "*.npz",
    )
    counts = json.loads(summary.read_text())["counts"] if summary.is_file() else None
    res["extract"] = {
        "command": f"tqa extract <{len(src)} links> --workers 2",
        "seconds_signal_to_exit": round(secs, 2),
        "exit_status": rc,
        "traceback": tb,
        "counts": counts,
    }
    for r in res.values():
        r["target_met"] = bool(r["seconds_signal_to_exit"] <= 5 and r["exit_status"] == 130)
    return res


def markdown(res: dict) -> str:
    s = res["sync"]
    L = [
        "# Real clips benchmark",
        "",
        f"Generated by `benchmarks/real_clips.py` on `{res['clips']}` ({res['when']}, "
        f"{res['seconds']:.0f} s). Real footage is read in place, never copied.",
        "",
        f"## Lip sync (weight-free `correlation` extractor v{CorrelationSync.version})",
        "",
        "Each recording whole (4.9-6.6 s, as `tqa metrics` measures it); audio delayed by k "
        "frames in memory (k x 640 samples at 16 kHz, zeros in front / trimmed, as ffmpeg "
        "`adelay`); foreign audio: `speech/1.wav`, `speech/2.wav`, the next recording's audio.",
        "",
        "Confidence/distance are measured **at lag 0** (the in-sync evidence), not at the best "
        "lag as SyncNet's LSE-C/LSE-D are (see docs/real-videos.md).",
        "",
        "| target | measured | needed | met |",
        "|---|---|---|---|",
    ]
    for name, (got, n, ok) in s["targets"].items():
        L.append(f"| {name} | {got}/{n} | | {'yes' if ok else '**no**'} |")
    L += ["", "For information:", ""]
    L += [f"- {k}: {v[0]}/{v[1]}" for k, v in s["info"].items()]
    g = res["sync_6s_grid"]["targets"]
    L += [
        "- the same targets on the first 6 s only (the 150-frame grid `tqa score` extracts; "
        "recording 4 is 6.6 s long): "
        + "; ".join(
            f"{k.split(' ')[0]} {v[0]}/{v[1]}{'' if v[2] else ' (not met)'}" for k, v in g.items()
        )
    ]
    L += [
        "",
        "Estimated offset (frames) per injected shift k (+ = audio late); in brackets: confidence.",
        "",
        "| clip | original | " + " | ".join(f"k={k:+d}" for k in SHIFTS) + " |",
        "|---|---|" + "---|" * len(SHIFTS),
    ]
    for r in s["rows"]:
        o = r["original"]
        cells = [
            f"{r['shifts'][str(k)]['offset']:+.0f} ({r['shifts'][str(k)]['confidence']:.2f})"
            for k in SHIFTS
        ]
        L.append(
            f"| {r['clip']} | {o['offset']:+.0f} ({o['confidence']:.2f}) | "
            + " | ".join(cells)
            + " |"
        )
    names = list(s["rows"][0]["foreign"])
    L += [
        "",
        "Confidence under the clip's own vs foreign audio:",
        "",
        "| clip | own | " + " | ".join(["foreign"] * len(names)) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for r in s["rows"]:
        cells = [f"{n}: {v['confidence']:.3f}" for n, v in r["foreign"].items()]
        L.append(f"| {r['clip']} | {r['original']['confidence']:.3f} | " + " | ".join(cells) + " |")
    q = res["quality"]
    L += [
        "",
        "## DNSMOS (MOS 1-5, higher = better) and BRISQUE (higher = worse) per clip",
        "",
        "| clip | SIG | BAK | OVRL | P.808 | BRISQUE face | BRISQUE frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, m in q["per_clip"].items():
        L.append(f"| {c} | " + " | ".join(f"{m[k]:.2f}" for k in m) + " |")
    L += [
        "",
        "DNSMOS OVRL with white noise added (original, then SNR "
        + " / ".join(f"{x} dB" for x in SNRS)
        + "):",
        "",
        "| clip | " + " | ".join(["orig", *[f"{x} dB" for x in SNRS]]) + " | falls monotonically |",
        "|---|" + "---|" * (len(SNRS) + 2),
    ]
    for c, v in q["noise"].items():
        L.append(
            f"| {c} | "
            + " | ".join(f"{x:.2f}" for x in v["ovrl"])
            + f" | {'yes' if v['monotonic'] else '**no**'} |"
        )
    w = res["swap"]
    L += [
        "",
        f"## Swap test: recording 1's audio (first {w['seconds']:.2f} s) under 8 different videos",
        "",
        f"- std over videos of the `dnsmos` audio features: {w['dnsmos_std_over_videos']}",
    ]
    if w.get("audio_quality") is None:
        L.append(f"- learned `audio_quality`: not measured ({w['note']})")
    else:
        L.append(
            f"- learned `audio_quality` std over videos: {w['audio_quality_std']:.3f} "
            f"(target <= 0.05: {'met' if w['target_met'] else '**not met**'}); "
            f"values: {w['audio_quality']}"
        )
    st = res.get("still") or {}
    L += ["", "## A still picture with the voice running", ""]
    if "rows" not in st:
        L.append(f"Not measured ({st.get('note', 'no result')}).")
    else:
        n = st["n"]
        L += [
            "Each recording's first frame held for its length under its own audio, scored by "
            "`tqa score` beside the recording. A frozen face does not lip-sync: it should read "
            "below its recording on lip_sync, expression and overall (no target is declared).",
            "",
            "| clip | " + " | ".join(f"{c} (orig / still)" for c in st["columns"]) + " |",
            "|---|" + "---|" * len(st["columns"]),
        ]
        for clip, r in st["rows"].items():
            cells = [f"{a:.2f} / {b:.2f}" for a, b in zip(r["original"], r["still"], strict=True)]
            L.append(f"| {clip} | " + " | ".join(cells) + " |")
        below = "; ".join(f"{t} {k}/{n}" for t, k in st["still_below_original"].items())
        L += [
            "",
            f"Still below its recording: {below}. Weight-free sync columns: distance higher "
            f"{st['sync_distance_higher']}/{n}, confidence lower "
            f"{st['sync_confidence_lower']}/{n}.",
        ]
    L += [
        "",
        "## Ctrl-C",
        "",
        "SIGINT to the process group once the first video is done (workers 2):",
        "",
        "| command | seconds to exit | exit status | traceback | rows / counts | <= 5 s, 130 |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["ctrl_c"].values():
        got = (
            r.get("counts") or f"{r.get('rows_done')} done, {r.get('rows_interrupted')} interrupted"
        )
        L.append(
            f"| `{r['command']}` | {r['seconds_signal_to_exit']:.2f} | {r['exit_status']} | "
            f"{'yes' if r['traceback'] else 'no'} | {got} | "
            f"{'met' if r['target_met'] else '**not met**'} |"
        )
    return "\n".join(L) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "realclips"))
    ap.add_argument(
        "--bundle", default=None, help="trained bundle (default models/bundle if present)"
    )
    ap.add_argument("--skip-ctrl-c", action="store_true")
    args = ap.parse_args()
    clips = Path(args.clips)
    if not (clips / "recordings").is_dir():
        print(f"real clips not found at {clips}: nothing to benchmark", file=sys.stderr)
        return 2
    bundle = Path(args.bundle) if args.bundle else ROOT / "models" / "bundle"
    bundle = bundle if (bundle / "bundle.json").is_file() or args.bundle else None
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tqa-real-") as tmp:
        decoded = decode_recordings(clips)
        sync = sync_bench(clips, decoded)
        sync_grid = sync_bench(clips, decoded, 150)
        quality = quality_bench(clips, decoded)
        swap = swap_bench(clips, decoded, bundle, Path(tmp))
        still = still_bench(decoded, bundle, Path(tmp))
        ctrl = {} if args.skip_ctrl_c else ctrl_c_bench(clips, Path(tmp))
    res = {
        "clips": rel(clips),
        "when": time.strftime("%Y-%m-%d", time.gmtime()),
        "seconds": time.perf_counter() - t0,
        "sync": sync,
        "sync_6s_grid": sync_grid,
        "quality": quality,
        "swap": swap,
        "still": still,
        "ctrl_c": ctrl,
    }
    write_json(ROOT / "reports" / "real_clips.json", res)
    write_text(ROOT / "reports" / "real_clips.md", markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
