"""Task weighting: fixed, uncertainty (closed form), GradNorm (toy problem, invariants)."""

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
