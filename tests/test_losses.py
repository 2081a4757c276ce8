"""Masked multi-task loss: hand-computed values, absent tasks, label smoothing."""

import numpy as np
import pytest
import torch

from tqa.model.losses import masked_mean_loss, masked_task_losses, smooth_targets


def _hand_mse(
    pred: np.ndarray, target: np.ndarray, missing: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Independent oracle: explicit loops over tasks and rows."""
    losses, counts = [], []
    for k in range(pred.shape[1]):
        errs = [
            (pred[i, k] - target[i, k]) ** 2
            for i in range(pred.shape[0])
            if target[i, k] != missing
        ]
        losses.append(sum(errs) / len(errs) if errs else 0.0)
        counts.append(len(errs))
    return np.array(losses), np.array(counts)


def test_masked_losses_match_hand_values():
    pred = np.array(
        [[3.0, 2.0, 4.0, 1.5, 2.5], [4.0, 3.5, 1.0, 2.0, 5.0], [2.0, 4.5, 3.0, 3.0, 1.0]],
        dtype=np.float32,
    )
    target = np.array(
        [[4.0, -1.0, 4.5, 1.0, -1.0], [4.0, 3.0, -1.0, 3.0, -1.0], [1.0, -1.0, 2.0, 3.0, -1.0]],
        dtype=np.float32,
    )
    losses, counts = masked_task_losses(torch.tensor(pred), torch.tensor(target))
    # by hand: task0 (1 + 0 + 1)/3, task1 0.25/1, task2 (0.25 + 1)/2, task3 (0.25 + 1 + 0)/3,
    # task4 none
    np.testing.assert_allclose(losses.numpy(), [2 / 3, 0.25, 0.625, 1.25 / 3, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(counts.numpy(), [3, 1, 2, 3, 0])
    ref_l, ref_c = _hand_mse(pred, target)
    np.testing.assert_allclose(losses.numpy(), ref_l, rtol=1e-6)
    np.testing.assert_array_equal(counts.numpy(), ref_c)


def test_fully_missing_task_has_zero_loss_and_zero_gradient():
    rng = np.random.default_rng(0)
    pred = torch.tensor(rng.uniform(1, 5, (6, 5)), dtype=torch.float32, requires_grad=True)
    target = torch.tensor(rng.uniform(1, 5, (6, 5)), dtype=torch.float32)
    target[:, 2] = -1.0
    target[0, 4] = -1.0
    losses, counts = masked_task_losses(pred, target)
    assert losses[2].item() == 0.0 and counts[2].item() == 0
    losses.sum().backward()
    assert torch.all(pred.grad[:, 2] == 0)
    assert pred.grad[0, 4].item() == 0.0  # single missing label: no gradient either
    assert torch.all(pred.grad[1:, 4] != 0)  # present labels do get gradient
    assert torch.isfinite(pred.grad).all()


def test_label_smoothing_shrinks_toward_given_mean():
    target = torch.tensor([[5.0, -1.0], [1.0, 2.0]])
    mean = torch.tensor([3.0, 4.0])
    valid = target != -1.0
    out = smooth_targets(target, valid, 0.1, mean)
    np.testing.assert_allclose(
        out.numpy(), [[0.9 * 5 + 0.3, -1.0], [0.9 * 1 + 0.3, 0.9 * 2 + 0.4]], rtol=1e-6
    )
    pred = torch.tensor([[4.0, 3.0], [2.0, 2.0]])
    losses, _ = masked_task_losses(pred, target, smoothing=0.1, target_mean=mean)
    exp0 = ((4.0 - 4.8) ** 2 + (2.0 - 1.2) ** 2) / 2
    exp1 = (2.0 - 2.2) ** 2
    np.testing.assert_allclose(losses.numpy(), [exp0, exp1], rtol=1e-5)


def test_bad_shapes_and_smoothing_raise():
    with pytest.raises(ValueError):
        masked_task_losses(torch.zeros(3, 5), torch.zeros(3, 4))
    with pytest.raises(ValueError):
        masked_task_losses(torch.zeros(3, 5), torch.zeros(3, 5), smoothing=1.0)


def test_masked_mean_ignores_absent_tasks():
    losses = torch.tensor([1.0, 0.0, 3.0])
    counts = torch.tensor([2, 0, 1])
    assert masked_mean_loss(losses, counts).item() == pytest.approx(2.0)
    assert masked_mean_loss(losses, torch.zeros(3, dtype=torch.long)).item() == 0.0
