"""pgrl's gradient step computes what torch's functions compute, bit for bit, by shorter paths: the inlined
gradient clipping, the one-check NaN guard, and Adam's shared step counter (issue 16 item 3)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pgrl.nan_guard import NanGuard, all_finite, check_parameters, first_non_finite
from pgrl.optim import Optimizer, clip_grad_norm, one_foreach_group


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
