"""Per-modality preprocessing fitted on the TRAIN split only (chapter 3.1.4).

For each modality stream (N, T, D) the frames of all training videos are stacked into
(N*T, D) and, in order:

1. median imputation of NaN per feature column (medians over all training frames; a
   column that is NaN in every training frame is imputed with 0 and logged);
2. StandardScaler (``preprocess.scale``), because the modalities' value ranges differ by
   three orders of magnitude;
3. PCA (``preprocess.pca``) to the smallest k whose cumulative explained variance is
   >= ``preprocess.pca_variance`` (capped at ``preprocess.pca_max_dims`` when set).

The lip-sync triple (N, 3) is imputed and scaled the same way (no PCA). The fitted object
is picklable (joblib) and saved atomically. The chapter reports 4237 -> 367 dims; the
reduction rate here is always computed (:attr:`Preprocessor.reduction_rate`).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from tqa.core.atomic import atomic_path
from tqa.core.schema import SYNC_FIELDS, FeatureSet

log = logging.getLogger(__name__)

#: Rows per chunk when fitting/transforming (bounds float64 temporaries to ~CHUNK_ROWS x D).
CHUNK_ROWS = 32768
#: A block whose float64 copy stays under this is imputed once per fit, not once per pass.
MAX_COPY_BYTES = 1 << 30


@dataclass
class _StreamFit:
    """Fitted statistics of one (rows, D) block."""

    in_dim: int
    median: np.ndarray  # (D,)
    all_nan_cols: list[int]
    mean: np.ndarray | None = None  # (D,) scaler mean
    scale: np.ndarray | None = None  # (D,) scaler std (1 where constant)
    pca_mean: np.ndarray | None = None  # (D,)
    components: np.ndarray | None = None  # (k, D)
    explained_ratio: np.ndarray | None = None  # (min(rows, D),) full spectrum, for curves
    n_nan_imputed: int = 0
    names: list[str] = field(default_factory=list)

    @property
    def out_dim(self) -> int:
        return self.in_dim if self.components is None else int(self.components.shape[0])

    @property
    def variance_kept(self) -> float:
        if self.components is None or self.explained_ratio is None:
            return 1.0
        return float(self.explained_ratio[: self.out_dim].sum())


class Preprocessor:
    """Median imputation + StandardScaler + PCA per modality; fit on train rows only."""

    def __init__(self, params_preprocess: dict, modalities: list[str] | None = None) -> None:
        p = dict(params_preprocess or {})
        if p.get("impute", "median") != "median":
            raise ValueError(f"preprocess.impute={p.get('impute')!r}: only 'median' is implemented")
        self.scale = bool(p.get("scale", True))
        self.pca = bool(p.get("pca", True))
        self.pca_variance = float(p.get("pca_variance", 0.95))
        if not 0.0 < self.pca_variance <= 1.0:
            raise ValueError(f"preprocess.pca_variance must be in (0, 1], got {self.pca_variance}")
        cap = p.get("pca_max_dims")
        self.pca_max_dims = None if cap in (None, "null") else int(cap)
        self.modalities = list(modalities) if modalities is not None else None
        self.fits_: dict[str, _StreamFit] = {}
        self.sync_fit_: _StreamFit | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, fs: FeatureSet) -> Preprocessor:
        """Fit on ``fs`` — pass the TRAIN subset only."""
        mods = self.modalities if self.modalities is not None else fs.modalities
        missing = [m for m in mods if m not in fs.streams]
        if missing:
            raise KeyError(f"modalities {missing} not in the feature set (has {fs.modalities})")
        if len(fs.video_ids) < 2:
            raise ValueError("Preprocessor.fit needs at least 2 training videos")
        self.fits_ = {}
        for m in mods:
            x = np.asarray(fs.streams[m])
            rows = x.reshape(-1, x.shape[-1])
            self.fits_[m] = self._fit_block(rows, m, pca=self.pca, names=fs.names.get(m))
        self.sync_fit_ = self._fit_block(
            np.asarray(fs.sync, dtype=np.float64), "sync", pca=False, names=list(SYNC_FIELDS)
        )
        return self

    def _fit_block(
        self, rows: np.ndarray, label: str, pca: bool, names: list[str] | None
    ) -> _StreamFit:
        """Fit one (rows, D) block in row chunks (float64 statistics, no full float64 copy)."""
        nan = np.isnan(rows)
        n_nan = int(nan.sum())
        all_nan = np.where(nan.all(axis=0))[0].tolist()
        del nan
        if all_nan:
            log.warning(
                "%s: %d feature column(s) are NaN in every training frame; imputed with 0: %s",
                label,
                len(all_nan),
                all_nan[:10],
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = (
                np.nanmedian(rows, axis=0).astype(np.float64)
                if len(rows)
                else np.zeros(rows.shape[1])
            )
        med = np.where(np.isnan(med), 0.0, med)
        fit = _StreamFit(
            in_dim=rows.shape[1],
            median=med,
            all_nan_cols=all_nan,
            n_nan_imputed=n_nan,
            names=list(names) if names else [],
        )
        n = len(rows)
        # one imputed float64 copy, scaled in place once the scaler is fitted, when it is
        # small enough; each pass then reads views of it instead of re-converting and
        # re-imputing the rows (the same chunks and element-wise operations: identical bits)
        z = _imputed(fit, rows) if 2 * rows.size * 8 <= MAX_COPY_BYTES else None
        chunks = (lambda: _views(z)) if z is not None else (lambda: self._chunks(fit, rows))
        # one scratch block for the passes' temporaries (a fresh array per pass costs its
        # page faults again: 2.5 s of a 13 s fit on 25k x 1404 landmark rows)
        scratch = np.empty((min(n, CHUNK_ROWS), rows.shape[1])) if z is not None else None
        if self.scale:
            fit.mean = sum(c.sum(axis=0) for c in chunks()) / n
            var = sum(_squared_deviations(c, fit.mean, scratch) for c in chunks()) / n
            std = np.sqrt(var)
            fit.scale = np.where(std > 0, std, 1.0)  # sklearn StandardScaler convention
            if z is not None:
                _standardize(z, fit)
        if pca:
            fit.pca_mean, comps, ratio = _pca_spectrum(chunks, n, fit.in_dim, scratch)
            k = int(np.searchsorted(np.cumsum(ratio), self.pca_variance - 1e-12) + 1)
            k = min(k, len(ratio))
            if self.pca_max_dims is not None:
                k = min(k, self.pca_max_dims)
            fit.components = comps[:k]
            fit.explained_ratio = ratio
        return fit

    @staticmethod
    def _chunks(fit: _StreamFit, rows: np.ndarray, size: int | None = None):
        """Imputed (and, once fitted, scaled) float64 row chunks of ``rows`` (fresh arrays)."""
        size = size or CHUNK_ROWS
        for i in range(0, len(rows), size):
            c = _imputed(fit, rows[i : i + size])
            if fit.scale is not None:
                _standardize(c, fit)
            yield c

    # ---------------------------------------------------------------- transform
    def _check_fitted(self) -> None:
        if not self.fits_ or self.sync_fit_ is None:
            raise RuntimeError("Preprocessor is not fitted; call fit(train_features) first")

    @classmethod
    def _apply(cls, fit: _StreamFit, rows: np.ndarray) -> np.ndarray:
        """(rows, D_in) -> (rows, D_out) float32, in row chunks."""
        if rows.shape[1] != fit.in_dim:
            raise ValueError(f"expected {fit.in_dim} feature columns, got {rows.shape[1]}")
        out = np.empty((len(rows), fit.out_dim), dtype=np.float32)
        for i, z in enumerate(cls._chunks(fit, rows)):
            if fit.components is not None:
                z = np.subtract(z, fit.pca_mean, out=z) @ fit.components.T
            out[i * CHUNK_ROWS : i * CHUNK_ROWS + len(z)] = z
        return out

    def transform(self, fs: FeatureSet) -> FeatureSet:
        """Imputed, scaled, reduced copy of ``fs`` (float32); fitted statistics unchanged."""
        self._check_fitted()
        streams, names = {}, {}
        for m, fit in self.fits_.items():
            if m not in fs.streams:
                raise KeyError(f"modality {m!r} was fitted but is missing from the feature set")
            x = np.asarray(fs.streams[m])
            n, t, _ = x.shape
            streams[m] = self._apply(fit, x.reshape(n * t, -1)).reshape(n, t, -1)
            names[m] = (
                [f"{m}_pc{i + 1}" for i in range(fit.out_dim)]
                if fit.components is not None
                else (fit.names or [f"{m}_{i}" for i in range(fit.in_dim)])
            )
        sync = self._apply(self.sync_fit_, np.asarray(fs.sync, dtype=np.float64))
        meta = dict(fs.meta)
        meta["preprocess"] = {
            "scale": self.scale,
            "pca": self.pca,
            "pca_variance": self.pca_variance,
            "pca_max_dims": self.pca_max_dims,
            "dims": self.output_dims,
        }
        return FeatureSet(
            video_ids=list(fs.video_ids), streams=streams, sync=sync, names=names, meta=meta
        )

    def fit_transform(self, fs: FeatureSet) -> FeatureSet:
        return self.fit(fs).transform(fs)

    # ------------------------------------------------------------------ reports
    @property
    def input_dims(self) -> dict[str, int]:
        self._check_fitted()
        return {m: f.in_dim for m, f in self.fits_.items()}

    @property
    def output_dims(self) -> dict[str, int]:
        self._check_fitted()
        return {m: f.out_dim for m, f in self.fits_.items()}

    @property
    def reduction_rate(self) -> float:
        """1 - sum(output dims) / sum(input dims) over the modality streams (sync excluded)."""
        return 1.0 - sum(self.output_dims.values()) / sum(self.input_dims.values())

    def report(self) -> pd.DataFrame:
        """One row per modality (and sync): input/output dims, variance kept, NaN imputed."""
        self._check_fitted()
        rows = []
        for m, f in [*self.fits_.items(), ("sync", self.sync_fit_)]:
            rows.append(
                {
                    "modality": m,
                    "input_dim": f.in_dim,
                    "output_dim": f.out_dim,
                    "explained_variance_kept": f.variance_kept,
                    "n_nan_imputed": f.n_nan_imputed,
                    "all_nan_columns": len(f.all_nan_cols),
                }
            )
        return pd.DataFrame(rows)

    def explained_variance_curves(self) -> dict[str, np.ndarray]:
        """Cumulative explained-variance ratio per modality (full spectrum), when PCA is on."""
        self._check_fitted()
        return {
            m: np.cumsum(f.explained_ratio)
            for m, f in self.fits_.items()
            if f.explained_ratio is not None
        }

    # --------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Atomic joblib dump."""
        path = Path(path)
        with atomic_path(path, suffix=".joblib") as tmp:
            joblib.dump(self, tmp)
        return path

    @staticmethod
    def load(path: str | os.PathLike) -> Preprocessor:
        obj = joblib.load(path)
        if not isinstance(obj, Preprocessor):
            raise TypeError(f"{path}: not a Preprocessor (got {type(obj).__name__})")
        return obj


def _imputed(fit: _StreamFit, rows: np.ndarray) -> np.ndarray:
    """A float64 copy of ``rows`` (n, D) with NaN replaced by the column medians."""
    c = np.array(rows, dtype=np.float64)  # always a copy: the caller's rows stay untouched
    nan = np.isnan(c)
    if nan.any():
        np.copyto(c, np.broadcast_to(fit.median, c.shape), where=nan)
    return c


def _standardize(c: np.ndarray, fit: _StreamFit) -> None:
    """``c = (c - mean) / scale`` in place (no temporaries the size of ``c``)."""
    np.subtract(c, fit.mean, out=c)
    np.divide(c, fit.scale, out=c)


def _squared_deviations(
    c: np.ndarray, mean: np.ndarray, scratch: np.ndarray | None = None
) -> np.ndarray:
    """(D,) column sums of ``(c - mean) ** 2``, in ``scratch`` (>= c's rows) when given."""
    d = np.subtract(c, mean, out=None if scratch is None else scratch[: len(c)])
    return np.square(d, out=d).sum(axis=0)


def _views(z: np.ndarray, size: int | None = None):
    """Row views of ``z`` in the chunks :meth:`Preprocessor._chunks` would yield."""
    size = size or CHUNK_ROWS
    for i in range(0, len(z), size):
        yield z[i : i + size]


def _pca_spectrum(
    chunks, n: int, d: int, scratch: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (D,), principal axes (r, D) and explained-variance ratios (r,) of the rows
    yielded by ``chunks()`` (called once per pass; n rows of width d in all); ``scratch``
    (>= a chunk's rows, width d): where the centred chunks go (None: fresh arrays).

    Eigen-decomposition of the (D, D) covariance accumulated over chunks when rows >> D
    (cheap for ~20k frames, and memory-bounded for chapter-sized data); SVD of the stacked
    rows otherwise. Component signs fixed (largest |loading| positive) for determinism.
    """
    mean = sum(c.sum(axis=0) for c in chunks()) / n
    if n > 2 * d:
        cov = np.zeros((d, d))
        for c in chunks():
            zc = np.subtract(c, mean, out=None if scratch is None else scratch[: len(c)])
            cov += zc.T @ zc
        cov /= max(n - 1, 1)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        var, comps = np.clip(evals[order], 0, None), evecs[:, order].T
    else:
        zc = np.concatenate(list(chunks())) - mean
        _, sv, vt = np.linalg.svd(zc, full_matrices=False)
        var, comps = sv**2 / max(n - 1, 1), vt
    total = var.sum()
    ratio = var / total if total > 0 else np.full(len(var), 1.0 / max(len(var), 1))
    idx = np.argmax(np.abs(comps), axis=1)
    signs = np.sign(comps[np.arange(len(comps)), idx])
    signs[signs == 0] = 1
    return mean, comps * signs[:, None], ratio
