"""Preprocessor: median imputation, scaling and PCA vs numpy/sklearn; train-only fitting."""

import copy

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from tqa.core.schema import FeatureSet
from tqa.model.preprocess import Preprocessor


def _fs(n=12, t=20, dims=None, seed=0, nan_rate=0.05):
    rng = np.random.default_rng(seed)
    dims = dims or {"visual": 12, "audio": 9, "au": 5}
    streams = {}
    for m, d in dims.items():
        mix = rng.normal(size=(d, d)) * (10.0 ** rng.integers(-2, 3, size=d))
        x = (rng.normal(size=(n, t, d)) @ mix).astype(np.float32)
        x[rng.random((n, t)) < nan_rate] = np.nan  # failed frames: whole NaN rows
        x[rng.random((n, t, d)) < nan_rate] = np.nan  # and scattered NaN values
        streams[m] = x
    sync = rng.normal(size=(n, 3)).astype(np.float32)
    sync[0, 1] = np.nan
    return FeatureSet([f"v{i}" for i in range(n)], streams, sync)


def _fitted(options: dict, **fs_kw):
    """``(fs, transformed fs, preprocessor)`` of a Preprocessor fitted on ``_fs(**fs_kw)``."""
    fs = _fs(**fs_kw)
    p = Preprocessor(options).fit(fs)
    return fs, p.transform(fs), p


def _rows_imputed(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stream's frames as float64 rows, and those rows with each NaN set to its column's
    median (the oracle of the imputation step)."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return rows, np.where(np.isnan(rows), np.nanmedian(rows, axis=0), rows)


def test_median_imputation_matches_nanmedian():
    fs, out, p = _fitted({"scale": False, "pca": False})
    for m, x in fs.streams.items():
        rows, expected = _rows_imputed(x)
        np.testing.assert_allclose(out.streams[m].reshape(rows.shape), expected, rtol=1e-5)
        assert p.report().set_index("modality").loc[m, "n_nan_imputed"] == np.isnan(rows).sum()
    assert not np.isnan(out.sync).any()


def test_scaler_matches_sklearn():
    fs, out, _ = _fitted({"scale": True, "pca": False})
    for m, x in fs.streams.items():
        rows, imputed = _rows_imputed(x)
        ref = StandardScaler().fit_transform(imputed)
        np.testing.assert_allclose(out.streams[m].reshape(rows.shape), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variance", [0.8, 0.95])
def test_pca_dims_and_projection_match_sklearn(variance):
    fs, out, p = _fitted({"scale": True, "pca": True, "pca_variance": variance}, n=30, t=20)
    for m, x in fs.streams.items():
        rows, imputed = _rows_imputed(x)
        z = StandardScaler().fit_transform(imputed)
        sk = PCA(n_components=variance, svd_solver="full").fit(z)
        assert p.output_dims[m] == sk.n_components_, m
        ref = sk.transform(z)
        got = out.streams[m].reshape(len(rows), -1)
        np.testing.assert_allclose(
            np.abs(got), np.abs(ref), rtol=1e-3, atol=1e-3
        )  # axes up to sign
        curve = p.explained_variance_curves()[m]
        np.testing.assert_allclose(
            curve[: sk.n_components_], np.cumsum(sk.explained_variance_ratio_), rtol=1e-6
        )
        assert curve[-1] == pytest.approx(1.0)


def test_pca_max_dims_caps():
    fs = _fs()
    p = Preprocessor({"pca": True, "pca_variance": 1.0, "pca_max_dims": 3}).fit(fs)
    assert max(p.output_dims.values()) == 3


def test_fit_uses_train_only_and_transform_does_not_refit():
    fs = _fs(n=20)
    train = fs.subset([f"v{i}" for i in range(14)])
    val = fs.subset([f"v{i}" for i in range(14, 20)])
    val.streams["visual"] *= 1000.0  # a shifted val set must not leak into the stats
    p = Preprocessor({"scale": True, "pca": True}).fit(train)
    snap = copy.deepcopy(p.fits_)
    p.transform(val)
    for m in snap:
        np.testing.assert_array_equal(snap[m].median, p.fits_[m].median)
        np.testing.assert_array_equal(snap[m].mean, p.fits_[m].mean)
        np.testing.assert_array_equal(snap[m].components, p.fits_[m].components)
    rows = train.streams["visual"].reshape(-1, 12).astype(np.float64)
    np.testing.assert_allclose(p.fits_["visual"].median, np.nanmedian(rows, axis=0))


def test_all_nan_column_imputed_with_zero_and_reported():
    fs = _fs()
    fs.streams["au"][:, :, 2] = np.nan
    p = Preprocessor({"scale": False, "pca": False}).fit(fs)
    out = p.transform(fs)
    assert np.all(out.streams["au"][:, :, 2] == 0.0)
    assert p.report().set_index("modality").loc["au", "all_nan_columns"] == 1


def test_reduction_rate_and_report():
    fs = _fs(n=30)
    p = Preprocessor({"pca": True, "pca_variance": 0.9}).fit(fs)
    rep = p.report().set_index("modality").drop(index="sync")
    assert p.reduction_rate == pytest.approx(1 - rep["output_dim"].sum() / rep["input_dim"].sum())
    assert rep["input_dim"].sum() == 12 + 9 + 5
    assert (rep["explained_variance_kept"] >= 0.9 - 1e-9).all()


def test_save_load_roundtrip(tmp_path):
    fs = _fs()
    p = Preprocessor({"pca": True}).fit(fs)
    p.save(tmp_path / "prep.joblib")
    q = Preprocessor.load(tmp_path / "prep.joblib")
    a, b = p.transform(fs), q.transform(fs)
    for m in a.streams:
        np.testing.assert_array_equal(a.streams[m], b.streams[m])
        assert a.streams[m].dtype == np.float32


def test_errors():
    with pytest.raises(RuntimeError):
        Preprocessor({}).transform(_fs())
    with pytest.raises(KeyError):
        Preprocessor({}, modalities=["landmarks"]).fit(_fs())
    with pytest.raises(ValueError):
        Preprocessor({"pca_variance": 1.5})


def test_chunked_processing_matches_single_chunk(monkeypatch):
    import tqa.model.preprocess as pp

    fs = _fs(n=10, t=20)
    ref = Preprocessor({"pca": True}).fit(fs)
    a = ref.transform(fs)
    monkeypatch.setattr(pp, "CHUNK_ROWS", 7)  # 200 rows -> 29 chunks, last one partial
    small = Preprocessor({"pca": True}).fit(fs)
    b = small.transform(fs)
    assert small.output_dims == ref.output_dims
    for m in a.streams:
        np.testing.assert_allclose(b.streams[m], a.streams[m], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(small.fits_[m].median, ref.fits_[m].median)


@pytest.mark.parametrize("chunk_rows", [7, 200, 32768])
@pytest.mark.parametrize("scale", [True, False])
def test_single_copy_path_is_bit_identical_to_per_pass_chunks(monkeypatch, chunk_rows, scale):
    """A block imputed once (and standardised in place) gives the same bits as re-imputing
    every chunk on every pass: the same chunks, the same element-wise operations."""
    import tqa.model.preprocess as pp

    fs = _fs(n=10, t=20)
    fs.sync = fs.sync.astype(np.float64)  # as a feature table gives it: fit() passes it as is
    raw = {m: np.array(x, copy=True) for m, x in fs.streams.items()}
    raw_sync = np.array(fs.sync, copy=True)  # float64: a no-copy asarray would be written to
    monkeypatch.setattr(pp, "CHUNK_ROWS", chunk_rows)
    once = Preprocessor({"pca": True, "scale": scale}).fit(fs)
    monkeypatch.setattr(pp, "MAX_COPY_BYTES", 0)  # every block through the per-pass chunks
    per_pass = Preprocessor({"pca": True, "scale": scale}).fit(fs)
    a, b = once.transform(fs), per_pass.transform(fs)
    for m in a.streams:
        assert np.array_equal(a.streams[m], b.streams[m])
        f, g = once.fits_[m], per_pass.fits_[m]
        for name in ("median", "mean", "scale", "pca_mean", "components", "explained_ratio"):
            x, y = getattr(f, name), getattr(g, name)
            assert (x is None and y is None) or np.array_equal(x, y), (m, name)
    for m, x in raw.items():  # imputation and scaling in place never touch the caller's rows
        assert np.array_equal(x, fs.streams[m], equal_nan=True)
    assert np.array_equal(raw_sync, fs.sync, equal_nan=True)


def test_pca_svd_path_when_few_rows():
    fs = _fs(n=2, t=5, dims={"visual": 12}, nan_rate=0.0)  # 10 rows < 2 x 12 dims: SVD branch
    p = Preprocessor({"scale": False, "pca": True, "pca_variance": 0.9}).fit(fs)
    rows = fs.streams["visual"].reshape(-1, 12).astype(np.float64)
    sk = PCA(n_components=0.9, svd_solver="full").fit(rows)
    assert p.output_dims["visual"] == sk.n_components_
    np.testing.assert_allclose(
        np.abs(p.transform(fs).streams["visual"].reshape(10, -1)),
        np.abs(sk.transform(rows)),
        rtol=1e-3,
        atol=1e-3,
    )
