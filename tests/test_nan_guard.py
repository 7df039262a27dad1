"""Non-finite losses, gradients and parameters: stop naming the epoch and the quantity with the last good
checkpoint kept, or (nan_policy="skip") skip the update and leave parameters and optimizer untouched."""

from __future__ import annotations

import io
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import torch

import pgrl
import pgrl.algos.ppo
from pgrl import ppo
from pgrl.checkpoint import load_checkpoint
from pgrl.cli import main
from pgrl.errors import NonFiniteError, PgrlError
from pgrl.nan_guard import NanGuard
from pgrl.optim import Optimizer

TINY = dict(steps_per_epoch=64, num_envs=2, minibatch_size=32, update_epochs=2, ac_kwargs=dict(hidden_sizes=(16,)),
            eval_episodes=0, verbose=False)  # fmt: skip


def model_and_optimizer(
    lr: float = 0.1, policy: str = "stop", max_grad_norm: float | None = None
) -> tuple[torch.nn.Linear, Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = Optimizer(torch.optim.Adam(model.parameters(), lr=lr), max_grad_norm, NanGuard(policy))
    opt.step(model(torch.ones(4, 3)).pow(2).mean())  # some Adam state
    return model, opt


def snapshot(model: torch.nn.Module, opt: Optimizer) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    params = [p.detach().clone() for p in model.parameters()]
    state = [t.clone() for s in opt.optimizer.state.values() for t in s.values()]
    return params, state


def assert_unchanged(before: Any, model: torch.nn.Module, opt: Optimizer) -> None:
    after = snapshot(model, opt)
    for x, y in zip(before[0] + before[1], after[0] + after[1], strict=True):
        assert torch.equal(x, y)


def nan_loss(model: torch.nn.Module) -> torch.Tensor:
    return model(torch.ones(4, 3)).sum() * float("nan")


def nan_gradient_loss(model: torch.nn.Module) -> torch.Tensor:
    out = model(torch.ones(4, 3))
    out.register_hook(lambda g: g * float("inf"))  # the loss stays finite, its gradient does not
    return out.pow(2).mean()


@pytest.mark.parametrize("make_loss, quantity", [(nan_loss, "loss"), (nan_gradient_loss, "gradient norm")])
@pytest.mark.parametrize("max_grad_norm", [None, 0.5])
def test_stop_names_the_quantity(make_loss: Any, quantity: str, max_grad_norm: float | None) -> None:
    model, opt = model_and_optimizer(max_grad_norm=max_grad_norm)
    with pytest.raises(NonFiniteError, match=f"non-finite {quantity}"):
        opt.step(make_loss(model))


@pytest.mark.parametrize("make_loss", [nan_loss, nan_gradient_loss])
def test_skip_leaves_parameters_and_optimizer_untouched(make_loss: Any) -> None:
    model, opt = model_and_optimizer(policy="skip", max_grad_norm=0.5)
    before = snapshot(model, opt)
    assert opt.step(make_loss(model)) is False
    assert_unchanged(before, model, opt)
    assert opt.guard.skipped == 1
    assert opt.step(model(torch.ones(4, 3)).pow(2).mean()) is True


def test_parameters_that_overflow_in_the_step() -> None:
    """Finite loss and gradients, but a step that overflows float32: stop, or undo the step with skip."""
    for policy in ("stop", "skip"):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        opt = Optimizer(torch.optim.SGD(model.parameters(), lr=3e38), None, NanGuard(policy))
        before = snapshot(model, opt)
        loss = model(100 * torch.ones(4, 3)).pow(2).mean()  # gradients in the hundreds: lr * grad overflows
        if policy == "stop":
            with pytest.raises(NonFiniteError, match="non-finite parameters"):
                opt.step(loss)
        else:
            assert opt.step(loss) is False
            assert_unchanged(before, model, opt)


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(PgrlError, match="nan_policy must be one of stop, skip"):
        ppo("CartPole-v1", epochs=1, nan_policy="ignore", **TINY)


def poison_loss_from_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    """ppo's clipped loss turns NaN in the given epoch (0-based) and later ones."""
    real = pgrl.algos.ppo.ppo_clip_loss
    calls = {"n": 0}
    per_epoch = 2 * 2 + 2  # minibatches x passes, plus the before/after evaluations

    def loss(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        value, info = real(*args, **kwargs)
        if calls["n"] > epoch * per_epoch:
            value = value * float("nan")
        return value, info

    monkeypatch.setattr(pgrl.algos.ppo, "ppo_clip_loss", loss)


def test_training_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_loss_from_epoch(monkeypatch, 2)
    with pytest.raises(NonFiniteError) as info:
        ppo("CartPole-v1", epochs=5, save_freq=1, **TINY, logger_kwargs={"output_dir": str(tmp_path)})
    message = str(info.value)
    assert "non-finite loss (nan) in epoch 3: training stopped" in message
    assert f"the last good checkpoint (epoch 2) in {str(tmp_path)!r} is kept" in message
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in state["ac"].values())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_skip_policy_trains_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_loss_from_epoch(monkeypatch, 2)
    _, history = ppo("CartPole-v1", epochs=4, nan_policy="skip", **TINY, logger_kwargs={"output_dir": str(tmp_path)})
    assert [row["SkippedUpdates"] for row in history] == [0, 0, 4, 4]
    state = load_checkpoint(tmp_path)
    assert state["epoch"] == 4 and all(torch.isfinite(t).all() for t in state["ac"].values())
    assert "SkippedUpdates" in (tmp_path / "progress.txt").read_text().splitlines()[0]


def test_cli_nan_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_loss_from_epoch(monkeypatch, 0)
    base = ["train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--steps-per-epoch", "64", "--num-envs", "2",
            "--minibatch-size", "32", "--update-epochs", "2", "--hidden-sizes", "16", "--eval-episodes", "0", "--quiet"]  # fmt: skip
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert main([*base, "--out", str(tmp_path / "stop")]) == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgrl: error: non-finite loss (nan) in epoch 1"), lines
    assert "no checkpoint was written" in lines[0] and "--nan-policy skip" in lines[0]
    with redirect_stdout(io.StringIO()):
        assert main([*base, "--out", str(tmp_path / "skip"), "--nan-policy", "skip"]) == 0


def test_ars_follows_the_nan_policy_too(tmp_path: Path) -> None:
    """ARS's update goes through no optimizer; a step that overflows float32 still stops or is skipped (a step size at float32's limit)."""
    kw = dict(n_directions=2, top_b=1, max_ep_len=20, step_size=3e38, eval_episodes=0, verbose=False)
    with pytest.raises(NonFiniteError, match=r"non-finite parameters .* in epoch 1: training stopped"):
        pgrl.ars("CartPole-v1", epochs=2, logger_kwargs={"output_dir": str(tmp_path / "stop")}, **kw)
    agent, history = pgrl.ars(
        "CartPole-v1", epochs=2, nan_policy="skip", logger_kwargs={"output_dir": str(tmp_path / "skip")}, **kw
    )
    assert [row["SkippedUpdates"] for row in history] == [1, 1]
    assert history[0]["ParamNorm"] == history[1]["ParamNorm"]  # the initial parameters were kept
    assert all(torch.isfinite(p).all() for p in agent.ac.parameters())
