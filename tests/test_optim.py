"""pgrl's gradient step computes what torch's functions compute, bit for bit, by shorter paths: the inlined
gradient clipping, the one-check NaN guard, and Adam's shared step counter (issue 16 item 3)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pgrl.nan_guard import CAT_MAX, NanGuard, all_finite, check_parameters, first_non_finite
from pgrl.optim import Adam, Optimizer, adam, clip_grad_norm, one_foreach_group


def net_with_grads(seed: int, scale: float) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    (scale * net(torch.randn(32, 4)).pow(2).sum()).backward()
    return net


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1e6])  # clipped hard, clipped or not, never
@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e3])
def test_clip_grad_norm_is_torchs_bit_for_bit(max_norm: float, scale: float) -> None:
    ours, theirs = net_with_grads(0, scale), net_with_grads(0, scale)
    ours[2].bias.grad = theirs[2].bias.grad = None  # a parameter without a gradient is left out alike
    norm = clip_grad_norm(list(ours.parameters()), max_norm)
    expected = torch.nn.utils.clip_grad_norm_(list(theirs.parameters()), max_norm, foreach=True)
    assert torch.equal(norm, expected)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert (p.grad is None and q.grad is None) or torch.equal(p.grad, q.grad)


def test_clip_grad_norm_without_gradients() -> None:
    net = nn.Linear(3, 2)
    assert float(clip_grad_norm(list(net.parameters()), 0.5)) == 0.0


def test_mixed_dtypes_clip_through_torch() -> None:
    net = net_with_grads(1, 1.0)
    assert one_foreach_group(list(net.parameters()))
    net[4].double()
    net[4].weight.grad, net[4].bias.grad = torch.ones(2, 16, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    params = list(net.parameters())
    assert not one_foreach_group(params)
    expected = copy.deepcopy(net)
    for p, q in zip(params, expected.parameters(), strict=True):
        q.grad = p.grad.clone()
    expected_norm = torch.nn.utils.clip_grad_norm_(list(expected.parameters()), 0.5, foreach=True)
    opt = Optimizer(torch.optim.SGD(params, lr=0.1), 0.5, NanGuard())
    assert torch.equal(opt._clip(params, 0.5), expected_norm)
    for p, q in zip(params, expected.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)


def test_first_non_finite_finds_the_first_bad_tensor() -> None:
    good = [torch.ones(3), torch.zeros(2, 2), torch.arange(4)]  # an int tensor among them: promoted alike
    assert first_non_finite(good) is None
    assert first_non_finite([]) is None
    for bad_value in (float("nan"), float("inf"), -float("inf")):
        bad = torch.ones(5)
        bad[3] = bad_value
        also_bad = torch.full((2,), float("nan"))
        assert first_non_finite([*good, bad, also_bad]) is bad
    # +inf and -inf in different tensors sum to NaN: found, the first of them named
    pos, neg = torch.tensor([float("inf")]), torch.tensor([-float("inf")])
    assert first_non_finite([torch.ones(2), pos, neg]) is pos


def test_first_non_finite_of_a_large_network() -> None:
    """Beyond CAT_MAX values the tensors are summed one by one (no copy): the same answers."""
    big = [torch.ones(CAT_MAX // 2), torch.ones(CAT_MAX // 2), torch.ones(7)]
    assert first_non_finite(big) is None
    big[1][5] = float("nan")
    assert first_non_finite(big) is big[1]
    assert first_non_finite([torch.full((CAT_MAX,), 3e38), torch.full((3,), 3e38)]) is None  # overflow, confirmed


def test_first_non_finite_confirms_an_overflowing_sum() -> None:
    """Finite values whose sum overflows float32 are no NaN: the fast path's false alarm is checked."""
    huge = [torch.full((4,), 3e38), torch.full((3,), 3e38)]
    assert not all_finite(torch.cat([t.reshape(-1) for t in huge]).sum())
    assert first_non_finite(huge) is None


def test_first_non_finite_on_different_devices_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Expected all tensors to be on the same device")

    monkeypatch.setattr(torch, "cat", refuse)
    bad = torch.tensor([1.0, float("nan")])
    assert first_non_finite([torch.ones(2), bad]) is bad
    assert first_non_finite([torch.ones(2)]) is None


def test_all_finite() -> None:
    assert all_finite(torch.tensor(1.5)) and all_finite(torch.tensor([2.0])) and all_finite(torch.ones(3))
    assert not all_finite(torch.tensor(float("nan"))) and not all_finite(torch.tensor([[float("inf")]]))
    assert not all_finite(torch.tensor([1.0, -float("inf")]))
    assert all_finite(torch.tensor(3)) and all_finite(torch.tensor(1 + 2j))
    assert not all_finite(torch.tensor(complex(float("nan"), 0.0)))


def test_check_parameters_names_the_parameter() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    check_parameters(net, lambda: "")
    with torch.no_grad():
        net[1].bias.fill_(float("inf"))
    with pytest.raises(Exception, match=r"non-finite parameter 1\.bias \(inf\) at epoch 3"):
        check_parameters(net, lambda: " at epoch 3")


def test_adam_counts_steps_per_parameter_like_torch() -> None:
    """The shared step vector counts only the parameters that have a gradient, as torch's per-tensor steps do,
    and a state dict round trip (ours or torch's) continues every count."""
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    ours, fused = adam(a.parameters(), lr=1e-2), torch.optim.Adam(b.parameters(), lr=1e-2, fused=True)
    assert isinstance(ours, Adam)
    x = torch.randn(5, 3)
    for i in range(6):
        for net, opt in ((a, ours), (b, fused)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            if i in (0, 3):  # the bias has no gradient on these steps: its state begins later, its count lags
                net.bias.grad = None
            opt.step()
        if i == 4:  # mid-run, each loads the other's state
            mine = ours.state_dict()
            ours.load_state_dict(fused.state_dict())
            fused.load_state_dict(mine)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
        assert torch.equal(ours.state[p]["step"], fused.state[q]["step"])
    assert [float(ours.state[p]["step"]) for p in a.parameters()] == [6.0, 4.0]
    # the counts are views of one vector, counted with one add_ once every parameter has a gradient
    assert ours._steps is not None and ours._steps.tolist() == [6.0, 4.0]
    assert all(ours.state[p]["step"]._base is ours._steps for p in a.parameters())


def test_adam_skip_policy_undoes_the_step_counts() -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = Optimizer(adam(net.parameters(), lr=1e-2), None, NanGuard("skip"))

    def loss() -> torch.Tensor:
        return net(torch.ones(4, 3)).pow(2).mean()

    assert opt.step(loss())
    params = [p.detach().clone() for p in net.parameters()]
    opt.optimizer.param_groups[0]["lr"] = float("inf")  # finite gradients, parameters that do not stay finite
    assert opt.step(loss()) is False
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), params, strict=True))
    assert [float(opt.optimizer.state[p]["step"]) for p in net.parameters()] == [1.0, 1.0]
    opt.optimizer.param_groups[0]["lr"] = 1e-2
    assert opt.step(loss()) and opt.step(loss())
    assert [float(opt.optimizer.state[p]["step"]) for p in net.parameters()] == [3.0, 3.0]
