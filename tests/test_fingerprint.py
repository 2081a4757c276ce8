"""Per-extractor fingerprints of a feature cache (tqa.features.fingerprint).

Oracles: numpy's float64 sum for the absolute sums, numpy's NaN count, and known edits to
one extractor's columns (only that extractor's digest may move).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tqa.features import cache as fcache
from tqa.features.fingerprint import cache_fingerprints, extractor_columns
from tqa.features.status import summarize

#: Extractors as the cache meta records them: a stacked visual stream (3 + 2 columns) and a
#: single-extractor audio stream, plus the sync triple.
EXTRACTORS = {
    "visual": {
        "name": "a+b",
        "dim": 5,
        "parts": [{"name": "a", "dim": 3}, {"name": "b", "dim": 2}],
    },
    "audio": {"name": "spec", "dim": 4},
    "sync": {"name": "corr", "dim": 3},
}


def _cache(tmp_path, edit=None) -> tuple[list[str], dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    ids = ["v1", "v0", "v2"]  # not sorted: the fingerprint sorts
    arrays = {}
    for vid in ids:
        streams = {"visual": rng.normal(size=(6, 5)), "audio": rng.normal(size=(6, 4))}
        streams["visual"][2, 0] = np.nan
        sync = rng.normal(size=3)
        if edit is not None:
            edit(vid, streams)
        fcache.write_features(tmp_path, vid, streams, sync, {"extractors": EXTRACTORS})
        arrays[vid] = {**streams, "sync": sync}
    return ids, arrays


def test_columns_of_stacked_and_single_extractors():
    cols = extractor_columns(EXTRACTORS)
    assert cols == {
        "audio/spec": ("audio", slice(0, 4)),
        "sync/corr": ("sync", slice(0, 3)),
        "visual/a": ("visual", slice(0, 3)),
        "visual/b": ("visual", slice(3, 5)),
    }
    bad = {
        "visual": {
            "name": "a+b",
            "dim": 6,
            "parts": [{"name": "a", "dim": 3}, {"name": "b", "dim": 2}],
        }
    }
    with pytest.raises(ValueError, match="sum to 5, stream has 6"):
        extractor_columns(bad)


def test_sums_and_counts_match_numpy(tmp_path):
    ids, arrays = _cache(tmp_path)
    fp = cache_fingerprints(tmp_path, ids, EXTRACTORS)
    a = np.concatenate([arrays[v]["visual"][:, :3].astype(np.float32) for v in ids])
    assert fp["visual/a"]["n_values"] == a.size and fp["visual/a"]["n_nan"] == 3
    np.testing.assert_allclose(
        fp["visual/a"]["abs_sum"], np.nansum(np.abs(a), dtype=np.float64), rtol=1e-12
    )
    s = np.stack([arrays[v]["sync"].astype(np.float32) for v in ids])
    np.testing.assert_allclose(
        fp["sync/corr"]["abs_sum"], np.abs(s).sum(dtype=np.float64), rtol=1e-12
    )
    assert fp["sync/corr"]["n_values"] == 9


def test_only_the_edited_extractor_moves(tmp_path):
    ids, _ = _cache(tmp_path / "clean")
    clean = cache_fingerprints(tmp_path / "clean", ids, EXTRACTORS)

    def one_step(vid, streams):  # one value of extractor b, one float32 step away
        if vid == "v2":
            streams["visual"][4, 4] = np.nextafter(
                np.float32(streams["visual"][4, 4]), np.float32(9)
            )

    ids, _ = _cache(tmp_path / "edited", one_step)
    edited = cache_fingerprints(tmp_path / "edited", ids, EXTRACTORS)
    moved = {k for k in clean if clean[k]["sha1"] != edited[k]["sha1"]}
    assert moved == {"visual/b"}
    assert clean["visual/b"]["n_values"] == edited["visual/b"]["n_values"]

    def signed_zero(vid, streams):  # the same value, another bit pattern
        streams["audio"][0, 0] = -0.0

    def plain_zero(vid, streams):
        streams["audio"][0, 0] = 0.0

    ids, _ = _cache(tmp_path / "z1", signed_zero)
    ids, _ = _cache(tmp_path / "z0", plain_zero)
    z1 = cache_fingerprints(tmp_path / "z1", ids, EXTRACTORS)
    assert z1 == cache_fingerprints(tmp_path / "z0", ids, EXTRACTORS)
    assert z1["audio/spec"]["sha1"] != clean["audio/spec"]["sha1"]


def test_nan_payloads_read_as_one_nan(tmp_path):
    ids, _ = _cache(tmp_path / "q")
    payload = np.array([0x7FC00001], dtype=np.uint32).view(np.float32)[0]
    assert np.isnan(payload)

    def other_nan(vid, streams):
        streams["visual"] = streams["visual"].astype(np.float32)
        streams["visual"][2, 0] = payload

    ids, _ = _cache(tmp_path / "p", other_nan)
    assert cache_fingerprints(tmp_path / "q", ids, EXTRACTORS) == cache_fingerprints(
        tmp_path / "p", ids, EXTRACTORS
    )


def test_the_extraction_summary_carries_them(tmp_path):
    ids, _ = _cache(tmp_path)
    table = pd.DataFrame({"video_id": ids, "status": ["extracted", "cached", "extracted"]})
    summary = summarize(tmp_path, table, 1.0)
    assert summary["fingerprints"] == cache_fingerprints(tmp_path, ids, EXTRACTORS)
    failed = table.assign(status="failed")
    assert summarize(tmp_path, failed, 1.0)["fingerprints"] is None  # nothing cached
