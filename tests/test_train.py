"""Training: schedule, determinism, end-to-end learning, artefacts, ablation switches."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from tqa.core.params import load_params, merged
from tqa.core.schema import FeatureSet
from tqa.model.schedule import build_scheduler, warmup_cosine
from tqa.model.training import FitResult, fit, load_fit, planted_signal_data, predict
from tqa.study.runs import run_strategy

TINY = {
    "model": {
        "d_model": 16,
        "n_layers": 1,
        "n_heads": 2,
        "dim_feedforward": 32,
        "token_stride": 10,
    },
    "train": {
        "epochs": 6,
        "batch_size": 16,
        "warmup_epochs": 1,
        "early_stopping_patience": 50,
        "lr": 0.003,
    },
}


def _params(**over):
    p = merged(load_params(), TINY)
    return merged(p, over)


@pytest.fixture(scope="module")
def toy():
    return planted_signal_data(
        n=80, dims={"visual": 10, "audio": 8, "landmarks": 12, "au": 5}, n_frames=60, seed=3
    )


# ----------------------------------------------------------------------- schedule


def test_warmup_cosine_closed_form_anchors():
    W, S, r = 4, 20, 0.1
    assert [warmup_cosine(s, W, S, r) for s in range(W)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert warmup_cosine(W, W, S, r) == pytest.approx(1.0)
    assert warmup_cosine(W + 8, W, S, r) == pytest.approx(
        r + (1 - r) * 0.5
    )  # halfway through the cosine
    assert warmup_cosine(S, W, S, r) == pytest.approx(r)
    assert warmup_cosine(S + 5, W, S, r) == pytest.approx(r)
    s = 13
    assert warmup_cosine(s, W, S, r) == pytest.approx(
        r + (1 - r) * (1 + math.cos(math.pi * 9 / 16)) / 2
    )


def test_scheduler_scales_every_group():
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 1.0}, {"params": [p2], "lr": 0.1}], lr=1.0)
    sch = build_scheduler(opt, 2, 10, 0.0)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sch.step()
    assert seen[0] == pytest.approx([0.5, 0.05])
    assert seen[1] == pytest.approx([1.0, 0.1])
    assert seen[6][0] / seen[6][1] == pytest.approx(10.0)


# ---------------------------------------------------------------------- training


def test_identical_runs_on_cpu(toy):
    fs, y, split = toy
    p = _params(train={"epochs": 2})
    a = fit(fs, y, split, p, strategy="gradnorm", seed=7, progress=False)
    b = fit(fs, y, split, p, strategy="gradnorm", seed=7, progress=False)
    cols = [c for c in a.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a.history[cols], b.history[cols])
    np.testing.assert_array_equal(a.predict(fs), b.predict(fs))
    c = fit(fs, y, split, p, strategy="gradnorm", seed=8, progress=False)
    assert not np.array_equal(a.predict(fs), c.predict(fs))


def test_fit_runs_blas_on_one_thread_whatever_the_caller_set(toy, monkeypatch):
    """fit pins numpy's BLAS to one thread for the preprocessor's PCA and scaling: a fresh
    clone's rebuild (BLAS on 2 threads) differed from the committed one in the trained weights'
    last bits without this (issue #23). The caller's setting is given back afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import tqa.model.training as T

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    seen: list[list[int]] = []
    real = T._fit

    def probe(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "_fit", probe)
    fs, y, split = toy
    p = _params(train={"epochs": 1})
    with threadpool_limits(4, user_api="blas"):
        outer = blas_threads()
        if not outer or max(outer) < 2:
            pytest.skip("no BLAS library that takes a thread count here")
        many = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
        after = blas_threads()
    assert seen == [[1] * len(outer)]
    assert after == outer
    with threadpool_limits(1, user_api="blas"):
        one = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    np.testing.assert_array_equal(many.predict(fs), one.predict(fs))


def test_end_to_end_learns_and_beats_train_mean(toy):
    fs, y, split = toy
    p = _params(train={"epochs": 25, "early_stopping_patience": 100, "lr": 0.003})
    res = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    h = res.history
    assert h["train_loss"].iloc[-3:].mean() < 0.6 * h["train_loss"].iloc[:2].mean()
    held = split != "train"
    pred = res.predict(fs.subset([v for v, k in zip(fs.video_ids, held) if k]))
    yt, ytr = y[held], y[split == "train"]
    mean = np.array([ytr[:, k][ytr[:, k] != -1].mean() for k in range(5)])
    m = yt != -1
    mse_model = ((pred - yt) ** 2)[m].mean()
    mse_mean = ((mean[None, :] - yt) ** 2)[m].mean()
    assert mse_model < 0.8 * mse_mean
    assert pred.min() >= 1.0 and pred.max() <= 5.0


def test_artefacts_and_reload(tmp_path, toy):
    fs, y, split = toy
    p = _params(train={"epochs": 3})
    res = fit(fs, y, split, p, strategy="uncertainty", seed=1, out_dir=tmp_path, progress=False)
    assert isinstance(res, FitResult)
    for f in ("best.pt", "preprocess.joblib", "history.csv", "metrics.json"):
        assert (tmp_path / f).is_file(), f
    hist = pd.read_csv(tmp_path / "history.csv")
    assert {"epoch", "train_loss", "val_loss", "lr", "val_loss_overall", "weight_overall"} <= set(
        hist.columns
    )
    assert len(hist) == 3
    assert res.best_epoch == int(hist["val_loss"].idxmin()) + 1
    again = load_fit(tmp_path)
    np.testing.assert_allclose(again.predict(fs), res.predict(fs), rtol=1e-6)
    np.testing.assert_allclose(
        predict(again.model, again.preprocessor, fs), res.predict(fs), rtol=1e-6
    )
    met = json.loads((tmp_path / "metrics.json").read_text())
    val = split == "val"
    mse_overall = ((res.predict(fs)[val, 4] - y[val, 4]) ** 2)[y[val, 4] != -1].mean()
    assert met["val_mse_per_task"]["overall"] == pytest.approx(mse_overall, rel=1e-4)
    # the restored model is the best epoch's: its masked validation MSE (mean over tasks of
    # the per-task MSE on present labels, computed here from predictions) is the history minimum
    pred, yv = again.predict(fs)[val], y[val]
    per_task = [((pred[:, k] - yv[:, k]) ** 2)[yv[:, k] != -1].mean() for k in range(5)]
    assert float(np.mean(per_task)) == pytest.approx(float(hist["val_loss"].min()), abs=1e-5)
    assert float(np.mean(per_task)) == pytest.approx(met["val_mse"], abs=1e-5)


def test_head_lr_reaches_the_optimizer_param_groups(toy):
    """train.head_lr.<task> is the base lr of that head's param group; null heads use train.lr."""
    fs, y, split = toy
    seen = []

    def hook(opt, args, kwargs):
        if not seen:
            seen.append({g["name"]: g["initial_lr"] for g in opt.param_groups})

    handle = register_optimizer_step_pre_hook(hook)
    try:
        p = _params(
            train={
                "epochs": 1,
                "lr": 0.003,
                "head_lr": {"overall": 0.0123, "lip_sync": 0.0005, "expression": None},
            }
        )
        fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    finally:
        handle.remove()
    lrs = seen[0]
    assert lrs["head_overall"] == 0.0123 and lrs["head_lip_sync"] == 0.0005
    assert lrs["head_expression"] == 0.003 and lrs["head_cross_modal"] == 0.003
    others = {k: v for k, v in lrs.items() if not k.startswith("head_")}
    assert others and set(others.values()) == {0.003}


def test_accumulation_divisors_closed_form():
    from tqa.model.training import accumulation_divisors

    assert accumulation_divisors(5, 2) == [2, 2, 2, 2, 1]
    assert accumulation_divisors(7, 3) == [3, 3, 3, 3, 3, 3, 1]
    assert accumulation_divisors(6, 3) == [3] * 6
    assert accumulation_divisors(2, 4) == [2, 2]
    assert accumulation_divisors(4, 1) == [1] * 4


def _step_grads(fs, y, split, train_over):
    """Gradients seen by each optimizer step of a 1-epoch fit (dropout 0, fixed weights)."""
    grads = []

    def hook(opt, args, kwargs):
        grads.append(
            [
                p.grad.detach().clone() if p.grad is not None else None
                for g in opt.param_groups
                for p in g["params"]
            ]
        )

    handle = register_optimizer_step_pre_hook(hook)
    try:
        p = _params(
            model={"dropout": 0.0},
            train={
                "epochs": 1,
                "label_smoothing": 0.0,
                "grad_clip": None,
                "warmup_epochs": 0,
                **train_over,
            },
        )
        fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    finally:
        handle.remove()
    return grads


def test_grad_accumulation_equals_one_full_batch_also_for_the_short_last_group():
    """8 train rows: accum 3 over micro-batches of 2 -> steps of 3 + 1 micro-batches; with every
    label present the mean of k micro-batch gradients is the gradient of their union, so it
    equals batch_size 6 without accumulation (steps of 6 + 2 rows, same permutation)."""
    fs, y, _ = planted_signal_data(
        n=12,
        dims={"visual": 4, "audio": 3, "landmarks": 5, "au": 2},
        n_frames=20,
        seed=5,
        missing_rate=0.0,
        nan_frames=0.0,
    )
    split = np.array(["train"] * 8 + ["val"] * 2 + ["test"] * 2)
    acc = _step_grads(fs, y, split, {"batch_size": 2, "grad_accum_steps": 3})
    full = _step_grads(fs, y, split, {"batch_size": 6, "grad_accum_steps": 1})
    assert len(acc) == len(full) == 2
    for step in range(2):
        pairs = [(a, b) for a, b in zip(acc[step], full[step]) if a is not None or b is not None]
        assert pairs
        for a, b in pairs:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_task_weights_are_the_restored_epochs(tmp_path, toy, monkeypatch):
    """FitResult.task_weights and load_fit report the strategy's weights at the best epoch."""
    import tqa.model.epochs as T

    fs, y, split = toy
    real = T.evaluate
    fake = iter([3.0, 1.0, 2.0])  # per-epoch validation losses: the best epoch is 2 of 3
    calls = {"n": 0}

    def evaluate(*a, **k):
        loss, per_task = real(*a, **k)
        calls["n"] += 1
        return (next(fake), per_task) if calls["n"] <= 3 else (loss, per_task)

    monkeypatch.setattr(T, "evaluate", evaluate)
    res = fit(
        fs,
        y,
        split,
        _params(train={"epochs": 3, "lr": 0.02}),
        strategy="uncertainty",
        seed=0,
        out_dir=tmp_path,
        progress=False,
    )
    assert res.best_epoch == 2
    cols = [
        f"weight_{t}" for t in ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")
    ]
    at_best = res.history.loc[res.history["epoch"] == 2, cols].to_numpy()[0]
    at_last = res.history.loc[res.history["epoch"] == 3, cols].to_numpy()[0]
    assert not np.allclose(at_best, at_last)  # the weights did move in epoch 3
    np.testing.assert_allclose(res.task_weights, at_best, rtol=1e-6)
    np.testing.assert_allclose(load_fit(tmp_path).task_weights, at_best, rtol=1e-6)


@pytest.mark.parametrize(
    "over",
    [
        {"model": {"drop_modalities": ["audio"]}},
        {"model": {"path_a": False}},
        {"model": {"path_b": False}},
        {"preprocess": {"pca": False}},
        {"preprocess": {"scale": False}},
    ],
)
def test_ablation_switches_train(toy, over):
    """Each ablation switch changes the model (predictions differ from the full model's)."""
    fs, y, split = toy
    base = _params(train={"epochs": 2})
    full = fit(fs, y, split, base, strategy="fixed", seed=0, progress=False).predict(fs)
    res = _fit_over(fs, y, split, base, over)
    assert np.isfinite(res.predict(fs)).all()
    assert np.abs(res.predict(fs) - full).max() > 1e-4
    if "drop_modalities" in over.get("model", {}):
        assert "audio" not in res.input_dims and "audio" not in res.model.modalities
    if over.get("preprocess", {}).get("pca") is False:
        assert res.input_dims == {m: a.shape[-1] for m, a in fs.streams.items()}


def _fit_over(fs, y, split, p, over: dict, seed: int = 0) -> FitResult:
    """The fixed strategy's fit on ``p`` with ``over`` merged in (no progress bars)."""
    return fit(fs, y, split, merged(p, over), strategy="fixed", seed=seed, progress=False)


def _held_out_mse(res: FitResult, fs, y, split) -> float:
    held = split != "train"
    pred = res.predict(fs.subset([v for v, k in zip(fs.video_ids, held) if k]))
    m = y[held] != -1
    return float(((pred - y[held]) ** 2)[m].mean())


def test_gradient_checkpointing_gives_the_same_model(toy):
    """Checkpointing recomputes the encoder in backward (same RNG state for dropout): the
    trained model must equal the one trained without it, up to float reordering."""
    fs, y, split = toy
    p = _params(train={"epochs": 3})
    a = fit(fs, y, split, p, strategy="fixed", seed=4, progress=False)
    b = _fit_over(fs, y, split, p, {"train": {"grad_checkpointing": True}}, seed=4)
    np.testing.assert_allclose(b.predict(fs), a.predict(fs), rtol=0, atol=1e-4)
    np.testing.assert_allclose(b.history["train_loss"], a.history["train_loss"], rtol=1e-4)


def test_amp_cpu_bf16_trains_and_lowers_the_loss(toy):
    """train.amp_cpu: bf16 autocast is really used (results differ from fp32) and still learns:
    held-out MSE well below the train-mean predictor's."""
    fs, y, split = toy
    p = _params(train={"epochs": 15, "lr": 0.003})
    res = _fit_over(fs, y, split, p, {"train": {"amp_cpu": True}})
    fp32 = _fit_over(fs, y, split, p, {"train": {"epochs": 2}})
    bf16_2 = _fit_over(fs, y, split, p, {"train": {"epochs": 2, "amp_cpu": True}})
    assert not np.allclose(fp32.history["train_loss"], bf16_2.history["train_loss"], rtol=1e-6)
    h = res.history
    assert h["train_loss"].iloc[-3:].mean() < 0.6 * h["train_loss"].iloc[:2].mean()
    ytr = y[split == "train"]
    mean = np.array([ytr[:, k][ytr[:, k] != -1].mean() for k in range(5)])
    held = split != "train"
    m = y[held] != -1
    mse_mean = float(((mean[None, :] - y[held]) ** 2)[m].mean())
    assert _held_out_mse(res, fs, y, split) < 0.8 * mse_mean


def test_use_sync_learns_a_signal_planted_only_in_the_sync_triple():
    """Streams are pure noise; every label is 3 + 0.8 * sync confidence: the model sees it only
    through the sync triple, so with use_sync it must beat the model without by far."""
    fs, _, split = planted_signal_data(
        n=160,
        dims={"visual": 6, "audio": 5, "landmarks": 6, "au": 3},
        n_frames=30,
        seed=11,
        signal=False,
        missing_rate=0.0,
    )
    rng = np.random.default_rng(0)
    sig = fs.sync[:, 1].astype(np.float64)
    y = np.clip(3.0 + 0.8 * sig[:, None] + 0.1 * rng.normal(size=(160, 5)), 1, 5).astype(np.float32)
    p = _params(train={"epochs": 15, "lr": 0.003}, model={"token_stride": 10})
    with_sync = _fit_over(fs, y, split, p, {"model": {"use_sync": True}})
    without = _fit_over(fs, y, split, p, {"model": {"use_sync": False}})
    mse_with, mse_without = (_held_out_mse(r, fs, y, split) for r in (with_sync, without))
    assert mse_with < 0.4 * mse_without
    assert mse_without > 0.5 * float(np.var(y[split != "train"]))  # nothing else to learn


def test_routed_audio_quality_ignores_the_video_after_training(toy):
    """model.task_modalities routes audio_quality to the audio stream: after fit() (with the
    per-modality preprocessor) swapping every non-audio stream and the sync triple between
    videos leaves the predicted audio_quality unchanged, and it still learns its planted
    audio signal better than the training mean (held-out MSE)."""
    fs, y, split = toy
    p = _params(train={"epochs": 20}, model={"task_modalities": {"audio_quality": ["audio"]}})
    res = fit(fs, y, split, p, strategy="gradnorm", seed=0, progress=False)
    perm = np.random.default_rng(1).permutation(len(fs.video_ids))
    swapped = FeatureSet(
        video_ids=list(fs.video_ids),
        streams={m: (a if m == "audio" else a[perm]) for m, a in fs.streams.items()},
        sync=fs.sync[perm],
        names=dict(fs.names),
        meta=dict(fs.meta),
    )
    a, b = res.predict(fs), res.predict(swapped)
    np.testing.assert_allclose(a[:, 2], b[:, 2], atol=1e-5)
    assert np.abs(a[:, 4] - b[:, 4]).max() > 1e-3  # overall still reads the video
    held = (split != "train") & (y[:, 2] != -1)
    mse = float(((a[held, 2] - y[held, 2]) ** 2).mean())
    base = float(((y[(split == "train") & (y[:, 2] != -1), 2].mean() - y[held, 2]) ** 2).mean())
    assert mse < 0.4 * base  # measured 0.18 (0.63 without routing)


# ------------------------------------------------------------- weighting inside fit()

TASK_NAMES = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")


@pytest.fixture(scope="module")
def noisy_expression(toy):
    """The toy set with expression labels replaced by N(3, 1): a task with a loss ~5x the
    others' that cannot be learned."""
    fs, y, split = toy
    y = y.copy()
    m = y[:, 1] != -1
    y[m, 1] = 3.0 + np.random.default_rng(0).normal(0.0, 1.0, int(m.sum()))
    return fs, y, split


def test_uncertainty_in_fit_learns_the_task_losses(noisy_expression):
    """With its own lr (outside the schedule) exp(s_k) reaches each task's training loss within
    20 %, and the history shows weight ratios >= 2 between tasks whose losses differ."""
    fs, y, split = noisy_expression
    p = _params(
        train={"epochs": 12},
        weighting={"uncertainty": {"lr": 0.05, "min_log_var": None}},
        model={"task_modalities": {"audio_quality": None}},  # the chapter's shared fusion
    )
    h = fit(fs, y, split, p, strategy="uncertainty", seed=0, progress=False).history
    last = h.iloc[-1]
    for t in TASK_NAMES:
        assert 0.5 / last[f"weight_{t}"] == pytest.approx(last[f"train_loss_{t}"], rel=0.2), t
    w = np.array([last[f"weight_{t}"] for t in TASK_NAMES])
    assert w.max() / w[1] >= 2.0 and int(np.argmin(w)) == 1  # the noisy task weighs least
    # at the model's lr under the schedule (the old behaviour) the weights hardly move
    old = _params(train={"epochs": 12}, weighting={"uncertainty": {"lr": None, "scheduled": True}})
    h_old = fit(fs, y, split, old, strategy="uncertainty", seed=0, progress=False).history
    w_old = h_old[[f"weight_{t}" for t in TASK_NAMES]].iloc[-1].to_numpy()
    assert w_old.max() / w_old.min() < 1.5


def test_uncertainty_lr_group_is_outside_the_schedule(toy):
    fs, y, split = toy
    seen = []

    def hook(opt, args, kwargs):
        seen.append({g["name"]: g["lr"] for g in opt.param_groups})

    handle = register_optimizer_step_pre_hook(hook)
    try:
        p = _params(
            train={"epochs": 2, "warmup_epochs": 1},
            weighting={"uncertainty": {"lr": 0.07, "scheduled": False}},
        )
        fit(fs, y, split, p, strategy="uncertainty", seed=0, progress=False)
    finally:
        handle.remove()
    assert {s["weighting"] for s in seen} == {0.07}
    assert len({s["fusion"] for s in seen}) > 2  # the model's groups follow the schedule


def _gradnorm_imbalance(fs, y, split, monkeypatch, noop: bool) -> tuple[float, np.ndarray]:
    """Relative distance sum|G_i - target_i| / sum target_i of GradNorm's gradient norms from
    its own target (each averaged over the last 5 steps of a fit), final weights."""
    from tqa.model.weighting.gradnorm import GradNormWeighting

    gaps = []
    real = GradNormWeighting.combine

    def combine(self, losses, counts, shared=None):
        out = real(self, losses, counts, shared)
        if torch.is_grad_enabled() and self.last_target.sum() > 0:
            gaps.append((self.last_grad_norms.clone(), self.last_target.clone()))
        return out

    monkeypatch.setattr(GradNormWeighting, "combine", combine)
    if noop:
        monkeypatch.setattr(GradNormWeighting, "step", lambda self: self.skip())
    # one full batch per epoch: per-batch noise would swamp the gap on 56 training rows
    p = _params(train={"epochs": 15, "batch_size": 64}, weighting={"gradnorm": {"lr": 0.2}})
    h = fit(fs, y, split, p, strategy="gradnorm", seed=0, progress=False).history
    monkeypatch.undo()
    g = torch.stack([a for a, _ in gaps[-5:]]).mean(0)
    t = torch.stack([b for _, b in gaps[-5:]]).mean(0)
    gap = float((g - t).abs().sum() / t.sum())
    return gap, h[[f"weight_{t}" for t in TASK_NAMES]].iloc[-1].to_numpy()


def test_gradnorm_in_fit_moves_weights_toward_its_target(noisy_expression, monkeypatch):
    """GradNorm (Chen et al. 2018) moves w so that G_i = w_i ||grad_W L_i|| approaches its
    target mean_j G_j * r_i^alpha. Inside fit() the gap must end far smaller than with a no-op
    ``step()`` (weights frozen at 1), and the weights must spread while summing to T = 5."""
    fs, y, split = noisy_expression
    gap, w = _gradnorm_imbalance(fs, y, split, monkeypatch, noop=False)
    gap_noop, w_noop = _gradnorm_imbalance(fs, y, split, monkeypatch, noop=True)
    np.testing.assert_allclose(w_noop, 1.0)
    np.testing.assert_allclose(w.sum(), 5.0, rtol=1e-5)
    assert w.max() / w.min() > 1.5
    assert gap < 0.5 * gap_noop


def test_one_labelled_task_strategies_coincide(tmp_path, toy, caplog):
    """Only lip_sync labelled: GradNorm's budget leaves one weight of 1, so its model is the
    fixed strategy's, bit for bit; fit says so (FitResult, metrics.json, log)."""
    fs, y, split = toy
    y = y.copy()
    y[:, 1:] = -1.0
    p = _params(train={"epochs": 2})
    fixed = fit(fs, y, split, p, strategy="fixed", seed=0, progress=False)
    with caplog.at_level("WARNING"):
        gn = fit(fs, y, split, p, strategy="gradnorm", seed=0, out_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(gn.predict(fs), fixed.predict(fs))
    assert gn.strategies_coincide and gn.labelled_tasks == ["lip_sync"]
    assert "coincides with fixed" in caplog.text
    met = json.loads((tmp_path / "metrics.json").read_text())
    assert met["strategies_coincide"] is True and met["labelled_tasks"] == ["lip_sync"]
    assert load_fit(tmp_path).strategies_coincide
    two = fit(
        fs,
        planted_signal_data(
            n=80, dims={"visual": 10, "audio": 8, "landmarks": 12, "au": 5}, n_frames=60, seed=3
        )[1],
        split,
        p,
        strategy="fixed",
        seed=0,
        progress=False,
    )
    assert not two.strategies_coincide


def test_run_strategy_writes_reports(tmp_path, toy):
    fs, y, split = toy
    p = _params(train={"epochs": 2})
    p["eval"]["results_dir"] = str(
        tmp_path / "studies"
    )  # run_strategy records fits for the studies
    res = run_strategy(
        fs,
        y,
        split,
        p,
        "gradnorm",
        seeds=[0, 1],
        models_dir=tmp_path / "models",
        reports_dir=tmp_path / "reports",
        progress=False,
    )
    assert len(res) == 2
    assert len(list((tmp_path / "studies" / "runs").glob("*.json"))) == 2  # both fits recorded
    summary = json.loads((tmp_path / "reports" / "gradnorm" / "metrics.json").read_text())
    assert set(summary["per_seed"]) == {"seed0", "seed1"}
    vals = [summary["per_seed"][s]["test_mse"] for s in ("seed0", "seed1")]
    # both sides are rounded to 4 decimals in metrics.json: equal within one rounding step
    assert summary["mean"]["test_mse"] == pytest.approx(np.mean(vals), abs=1e-4)
    assert (tmp_path / "models" / "gradnorm" / "seed1" / "best.pt").is_file()
    w = res[0].history[[c for c in res[0].history.columns if c.startswith("weight_")]].to_numpy()
    np.testing.assert_allclose(w.sum(axis=1), 5.0, rtol=1e-5)


def test_bad_inputs(toy):
    fs, y, split = toy
    p = _params()
    with pytest.raises(ValueError):
        fit(fs, y[:, :4], split, p, strategy="fixed", seed=0, progress=False)
    with pytest.raises(ValueError):
        fit(
            fs,
            y,
            np.where(split == "val", "dev", split),
            p,
            strategy="fixed",
            seed=0,
            progress=False,
        )
    with pytest.raises(KeyError):
        fit(fs, y, split, p, strategy="nope", seed=0, progress=False)


def test_cli_trains_from_cache_labels_and_split(tmp_path, toy):
    import yaml

    from tqa.core.schema import TASKS
    from tqa.features.cache import write_features
    from tqa.features.config import config_hash_from_params
    from tqa.study.runs import main

    fs, y, split = toy
    ids = fs.video_ids[:40]
    lab = pd.DataFrame(y[:40], columns=list(TASKS))
    lab.insert(0, "video_id", ids)
    (tmp_path / "data").mkdir()
    lab.to_csv(tmp_path / "data" / "labels.csv", index=False)
    sp = split[:40].copy()
    sp[:4] = ["train", "val", "test", "train"]
    pd.DataFrame({"video_id": ids, "split": sp}).to_csv(tmp_path / "split.csv", index=False)
    p = _params(train={"epochs": 2, "seeds": [0]})
    chash = config_hash_from_params(p)
    for i, v in enumerate(ids):
        write_features(
            tmp_path / "cache",
            v,
            {m: a[i] for m, a in fs.streams.items()},
            fs.sync[i],
            {"toy": True, "config_hash": chash},
        )
    p["data"]["root"] = str(tmp_path / "data")
    p["split"]["out"] = str(tmp_path / "split.csv")
    p["features"]["cache_dir"] = str(tmp_path / "cache")
    p["eval"]["results_dir"] = str(tmp_path / "studies")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    rc = main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--strategy",
            "fixed",
            "--out",
            str(tmp_path / "models"),
            "--reports",
            str(tmp_path / "reports"),
            "--no-progress",
        ]
    )
    assert rc == 0
    assert (tmp_path / "models" / "fixed" / "seed0" / "best.pt").is_file()
    summary = json.loads((tmp_path / "reports" / "fixed" / "metrics.json").read_text())
    assert summary["seeds"] == [0] and summary["mean"]["test_mse"] is not None


def test_load_training_data_leaves_out_stale_cache_files(tmp_path, toy, caplog):
    """Cache files of another extractor configuration, or of another version of the video
    file, are not trained on; the warning names them."""
    import logging

    from tqa.core.schema import TASKS
    from tqa.features.cache import source_fingerprint, write_features
    from tqa.features.config import config_hash_from_params
    from tqa.study.inputs import load_training_data

    fs, y, _ = toy
    ids = fs.video_ids[:8]
    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    lab = pd.DataFrame(y[:8], columns=list(TASKS))
    lab.insert(0, "video_id", ids)
    lab.to_csv(data / "labels.csv", index=False)
    pd.DataFrame({"video_id": ids, "split": ["train"] * 6 + ["val", "test"]}).to_csv(
        tmp_path / "split.csv", index=False
    )
    p = _params()
    p["data"]["root"] = str(data)
    p["split"]["out"] = str(tmp_path / "split.csv")
    p["features"]["cache_dir"] = str(tmp_path / "cache")
    chash = config_hash_from_params(p)
    # ids[2]: its video file exists now, but the cache file was made from other content
    video = data / "videos" / f"{ids[2]}.mp4"
    video.write_bytes(b"new content of a rebuilt video")
    old_fp = "0-0000000000000000"
    assert old_fp != source_fingerprint(video)
    for i, v in enumerate(ids):
        if i == 5:
            continue  # never extracted
        meta = {"config_hash": "another-extractor-config" if i == 4 else chash}
        if i == 2:
            meta["source_fingerprint"] = old_fp
        write_features(
            tmp_path / "cache", v, {m: a[i] for m, a in fs.streams.items()}, fs.sync[i], meta
        )
    with caplog.at_level(logging.WARNING, logger="tqa.study.inputs"):
        got, labels, split = load_training_data(p)
    keep = [ids[i] for i in (0, 1, 3, 6, 7)]
    assert got.video_ids == keep
    np.testing.assert_array_equal(labels, y[[0, 1, 3, 6, 7]])
    np.testing.assert_array_equal(got.streams["visual"][2], fs.streams["visual"][3])
    assert split.tolist() == ["train", "train", "train", "val", "test"]
    msg = " ".join(r.getMessage() for r in caplog.records if "left out" in r.getMessage())
    assert "3 labelled video(s)" in msg and all(ids[i] in msg for i in (2, 4, 5))


@pytest.mark.parametrize(
    "name",
    # 04_model also runs in the default run, from notebooks/ (test_notebook_params.py)
    [
        pytest.param("03_pca", marks=pytest.mark.slow),  # `make repro` runs it on the corpus
        pytest.param("04_model", marks=pytest.mark.slow),
        "05_training",
    ],
)
def test_notebook_executes_on_toy_data(tmp_path, name):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    papermill = Path(sys.executable).parent / "papermill"
    cmd = [
        str(papermill),
        "-k",
        "python3",
        "--cwd",
        str(root),
        str(root / "notebooks" / f"{name}.ipynb"),
        str(tmp_path / f"{name}.ipynb"),
        "-p",
        "toy_data",
        "True",
        "-p",
        "reports_dir",
        str(tmp_path / "reports"),
        "-y",
        json.dumps(
            {
                "overrides": {
                    "train.epochs": 2,
                    "train.seeds": [0],
                    "eval.results_dir": str(tmp_path / "studies"),
                }
            }
        ),
    ]
    if name == "05_training":
        cmd += ["-p", "models_dir", str(tmp_path / "models"), "-p", "strategy", "gradnorm"]
    subprocess.run(cmd, check=True, cwd=root, capture_output=True, timeout=600)
    expected = {
        "03_pca": "figures/pca_explained_variance.png",
        "04_model": "data/model_switches.csv",
        "05_training": "figures/learning_curves_gradnorm.png",
    }[name]
    assert (tmp_path / "reports" / expected).is_file()
    if name == "05_training":
        assert (tmp_path / "reports" / "training" / "gradnorm" / "metrics.json").is_file()


@pytest.mark.slow
def test_benchmark_script_runs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "train.py"),
            "--part",
            "steps",
            "--steps",
            "1",
            "--n-videos",
            "32",
            "--devices",
            "cpu",
            "--out",
            str(tmp_path),
        ],
        check=True,
        timeout=600,
    )
    res = json.loads((tmp_path / "train_cpu.json").read_text())
    assert len(res["steps"]) == 4 and all(r["step_s"] > 0 for r in res["steps"])
