"""Task weighting: fixed, uncertainty (closed form), GradNorm (toy problem, invariants)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tqa.model.weighting import available, get_weighting

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def test_registry():
    assert set(available()) == {"fixed", "uncertainty", "gradnorm"}
    with pytest.raises(KeyError):
        get_weighting("nope", 5)
    params = {"weighting": {"fixed": {"weights": [1, 2, 3]}, "gradnorm": {"alpha": 0.5}}}
    assert get_weighting("gradnorm", 3, params).alpha == 0.5
    with pytest.raises(ValueError):
        get_weighting("fixed", 5, params)  # 3 weights for 5 tasks


def test_fixed_is_weighted_sum():
    s = get_weighting("fixed", 3, {"weights": [1.0, 2.0, 0.5]})
    losses = torch.tensor([0.3, 0.2, 4.0])
    assert s.combine(losses, torch.tensor([1, 1, 1])).item() == pytest.approx(0.3 + 0.4 + 2.0)


def test_uncertainty_matches_closed_form_and_gradient():
    s = get_weighting("uncertainty", 3, {"init_log_var": 0.0})
    log_vars = [0.3, -0.7, 1.2]
    with torch.no_grad():
        for p, v in zip(s.log_vars, log_vars):
            p.fill_(v)
    L = np.array([0.8, 0.1, 2.5])
    total = s.combine(torch.tensor(L, dtype=torch.float32), torch.tensor([4, 2, 3]))
    expected = sum(0.5 * np.exp(-sk) * lk + 0.5 * sk for sk, lk in zip(log_vars, L))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    for p, sk, lk in zip(s.log_vars, log_vars, L):  # d/ds = 0.5 - 0.5 exp(-s) L
        assert p.grad.item() == pytest.approx(0.5 - 0.5 * np.exp(-sk) * lk, rel=1e-5)
    np.testing.assert_allclose(s.weights.numpy(), 0.5 * np.exp(-np.array(log_vars)), rtol=1e-6)


def test_uncertainty_absent_task_not_updated():
    s = get_weighting("uncertainty", 3, {})
    opt = torch.optim.AdamW(s.optim_parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(3):  # build up Adam momentum for every task first
        opt.zero_grad()
        s.combine(torch.tensor([2.0, 2.0, 3.0]), torch.tensor([1, 1, 1])).backward()
        opt.step()
    before = s.log_var.clone()
    opt.zero_grad(set_to_none=True)
    s.combine(torch.tensor([2.0, 0.0, 3.0]), torch.tensor([1, 0, 1])).backward()
    assert s.log_vars[1].grad is None
    opt.step()
    after = s.log_var
    assert after[1].item() == before[1].item()
    assert after[0].item() != before[0].item() and after[2].item() != before[2].item()


class _TwoTask(nn.Module):
    def __init__(self, d: int = 8, h: int = 16) -> None:
        super().__init__()
        self.last_shared_layer = nn.Linear(d, h)
        self.heads = nn.ModuleList([nn.Linear(h, 1), nn.Linear(h, 1)])

    def forward(self, x):
        z = torch.relu(self.last_shared_layer(x))
        return torch.cat([hd(z) for hd in self.heads], dim=1)


def test_gradnorm_grad_norms_match_autograd_oracle():
    torch.manual_seed(0)
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {"alpha": 1.0, "lr": 0.01})
    with torch.no_grad():
        s.w.copy_(torch.tensor([0.5, 1.5]))
    x, y = torch.randn(32, 8), torch.randn(32, 2)
    losses = ((model(x) - y) ** 2).mean(0)
    s.combine(losses, torch.tensor([32, 32]), model)
    W = model.last_shared_layer.weight
    for k, wk in enumerate([0.5, 1.5]):
        g = torch.autograd.grad(wk * losses[k], W, retain_graph=True)[0].norm()
        assert s.last_grad_norms[k].item() == pytest.approx(g.item(), rel=1e-5)


def test_gradnorm_slower_task_gains_weight_and_sum_is_T():
    """Task 0 (linear target) trains fast; task 1 (a high-frequency target) barely trains:
    its inverse training rate r_1 > 1, so GradNorm must raise w_1 above w_0."""
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = torch.stack(
        [2.0 * x[:, 0] - x[:, 1], torch.sign(torch.sin(7.0 * x[:, 2] * x[:, 3]))], dim=1
    )
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {"alpha": 1.5, "lr": 0.02})
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    counts = torch.tensor([256, 256])
    for _ in range(150):
        losses = ((model(x) - y) ** 2).mean(0)
        opt.zero_grad()
        s.combine(losses, counts, model).backward()
        opt.step()
        s.step()
        assert s.weights.sum().item() == pytest.approx(2.0, abs=1e-5)
        assert (s.weights > 0).all()
    ratio = losses.detach() / s.initial_loss
    assert ratio[1] > ratio[0]  # task 1 is the slower one
    assert s.weights[1] > 1.0 > s.weights[0]


def test_gradnorm_absent_task_excluded_from_update():
    torch.manual_seed(1)
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {"alpha": 1.5, "lr": 0.05})
    x, y = torch.randn(16, 8), torch.randn(16, 2)
    for _ in range(3):
        losses = ((model(x) - y) ** 2).mean(0)
        s.combine(losses, torch.tensor([16, 16]), model).backward()
        s.step()
    w_before = s.weights.clone()
    losses = ((model(x) - y) ** 2).mean(0) * torch.tensor([1.0, 0.0])
    s.combine(losses, torch.tensor([16, 0]), model).backward()
    s.step()
    assert s.weights[1].item() == w_before[1].item()
    assert s.weights.sum().item() == pytest.approx(2.0, abs=1e-5)


class _ThreeTaskRouted(_TwoTask):
    """Two tasks through the shared layer, a third on its own branch (a routed head)."""

    def __init__(self, d: int = 8, h: int = 16) -> None:
        super().__init__(d, h)
        self.routed = nn.Linear(d, 1)

    def forward(self, x):
        return torch.cat([super().forward(x), self.routed(x)], dim=1)


def test_gradnorm_routed_task_keeps_its_weight_and_others_balance():
    """A task whose loss never reaches W (model.task_modalities) is left out like an absent
    task: its weight stays 1, the other two still move and the total stays T = 3."""
    torch.manual_seed(0)
    x = torch.randn(128, 8)
    y = torch.stack([2.0 * x[:, 0], torch.sign(torch.sin(7.0 * x[:, 2] * x[:, 3])), x[:, 1]], dim=1)
    model = _ThreeTaskRouted()
    s = get_weighting("gradnorm", 3, {"alpha": 1.5, "lr": 0.02})
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(60):
        losses = ((model(x) - y) ** 2).mean(0)
        opt.zero_grad()
        s.combine(losses, torch.tensor([128, 128, 128]), model).backward()
        opt.step()
        s.step()
    assert s.weights[2].item() == 1.0
    assert s.weights.sum().item() == pytest.approx(3.0, abs=1e-5)
    assert s.weights[1] > 1.0 > s.weights[0]
    assert s.last_grad_norms[2].item() == 0.0


def test_gradnorm_initial_loss_is_first_step_with_labels():
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {})
    x, y = torch.randn(8, 8), torch.randn(8, 2)
    l1 = ((model(x) - y) ** 2).mean(0) * torch.tensor([1.0, 0.0])
    s.combine(l1, torch.tensor([8, 0]), model)
    assert s.has_initial.tolist() == [True, False]
    l2 = ((model(x) - y) ** 2).mean(0)
    s.combine(l2, torch.tensor([8, 8]), model)
    assert s.initial_loss[0].item() == pytest.approx(l1[0].item())
    assert s.initial_loss[1].item() == pytest.approx(l2[1].item())


# ------------------------------------------------- uncertainty: learning the log-variances


def _two_task_regression(noise: tuple[float, float], steps: int, floor=None, seed: int = 0):
    """Two linear regression tasks y_k = x @ b_k + N(0, noise_k^2); a linear model and the
    uncertainty strategy trained jointly (log-variances in their own group, lr 0.05).
    Returns (exp(s_k) at the end, mean per-task loss over the last 100 steps)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2048, 6, generator=g)
    b = torch.randn(6, 2, generator=g)
    y = x @ b + torch.randn(2048, 2, generator=g) * torch.tensor(noise)
    model = nn.Linear(6, 2)
    s = get_weighting("uncertainty", 2, {"lr": 0.05, "min_log_var": floor})
    opt = torch.optim.AdamW(
        [
            {"params": model.parameters(), "lr": 0.01},
            {"params": s.optim_parameters(), "lr": s.optim_lr, "weight_decay": 0.0},
        ]
    )
    tail = []
    for i in range(steps):
        idx = torch.randint(0, 2048, (64,), generator=g)
        losses = ((model(x[idx]) - y[idx]) ** 2).mean(0)
        opt.zero_grad()
        s.combine(losses, torch.tensor([64, 64])).backward()
        opt.step()
        s.step()
        if i >= steps - 100:
            tail.append(losses.detach())
    return torch.exp(s.log_var), torch.stack(tail).mean(0)


def test_uncertainty_log_variances_converge_to_task_losses():
    """Kendall et al. 2018: d/ds_k = 0.5 - 0.5 exp(-s_k) L_k = 0 at exp(s_k) = L_k. Noise
    variances 1.0 and 0.09 are the planted irreducible losses."""
    var, loss = _two_task_regression((1.0, 0.3), steps=600)
    assert loss[0] == pytest.approx(1.0, rel=0.2) and loss[1] == pytest.approx(0.09, rel=0.25)
    np.testing.assert_allclose(var.numpy(), loss.numpy(), rtol=0.2)
    w = 0.5 / var
    assert w[1] / w[0] > 5.0  # the low-noise task gets ~11x the weight


def test_uncertainty_floor_guards_a_near_constant_task():
    """A task with loss ~1e-4 would get ~10^4 x the weight; with min_log_var = log(0.1) its
    s_k stops at the floor (closed form: s_k = max(log L_k, floor))."""
    var_free, loss = _two_task_regression((1.0, 0.01), steps=600)
    var_guard, _ = _two_task_regression((1.0, 0.01), steps=600, floor=math.log(0.1))
    assert float(var_free[1]) < 0.01  # unguarded: exp(s) follows the tiny loss
    assert float(var_guard[1]) == pytest.approx(0.1, rel=1e-5)
    assert float(var_guard[0]) == pytest.approx(float(loss[0]), rel=0.2)  # other task untouched
    s = get_weighting("uncertainty", 2, {"init_log_var": -5.0, "min_log_var": -2.0})
    assert s.log_var.tolist() == [-2.0, -2.0]  # the start is projected as well


# ------------------------------------------------------ GradNorm: accumulation and AMP skips


def _gradnorm_w_grad(batches, skip_first: bool = False) -> torch.Tensor:
    """The w-gradient GradNorm hands its Adam for one optimizer step over ``batches``."""
    torch.manual_seed(0)
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {"alpha": 1.5, "lr": 0.01})
    seen = []
    real = s._opt.step
    s._opt.step = lambda: (seen.append(s.w.grad.clone()), real())[1]
    if skip_first:  # a micro-batch whose optimizer step AMP skipped
        x, y = batches[-1]
        s.combine(((model(x) - y) ** 2).mean(0) * 3.0, torch.tensor([8, 8]), model)
        s.skip()
    for x, y in batches:
        s.combine(((model(x) - y) ** 2).mean(0), torch.tensor([len(x), len(x)]), model)
    s.step()
    assert len(seen) == 1
    return seen[0]


def test_gradnorm_averages_micro_batch_gradients():
    g = torch.Generator().manual_seed(2)
    b1 = (torch.randn(8, 8, generator=g), torch.randn(8, 2, generator=g))
    b2 = (torch.randn(8, 8, generator=g), torch.randn(8, 2, generator=g))
    both = _gradnorm_w_grad([b1, b2])
    one = _gradnorm_w_grad([b1])
    # each micro-batch's w-gradient, computed from the same initial losses L_i(0) = batch 1
    torch.manual_seed(0)
    model = _TwoTask()
    s = get_weighting("gradnorm", 2, {"alpha": 1.5})
    s.combine(((model(b1[0]) - b1[1]) ** 2).mean(0), torch.tensor([8, 8]), model)
    s._pending_grad, s._pending_n = None, 0
    s.combine(((model(b2[0]) - b2[1]) ** 2).mean(0), torch.tensor([8, 8]), model)
    two = s._pending_grad
    torch.testing.assert_close(both, (one + two) / 2)


def test_gradnorm_skipped_amp_step_leaves_no_stale_gradient():
    g = torch.Generator().manual_seed(3)
    b = (torch.randn(8, 8, generator=g), torch.randn(8, 2, generator=g))
    torch.testing.assert_close(_gradnorm_w_grad([b], skip_first=True), _gradnorm_w_grad([b]))
