"""VPG: the loss against its formula, one policy step per epoch, the logged columns, learning CartPole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pgrl
import pgrl.optim
from pgrl.advantages import standardize
from pgrl.losses import policy_gradient_loss

SOLVED = 475.0


def test_vpg_loss_is_minus_mean_logp_times_advantage():
    logp = torch.log(torch.tensor([0.8, 0.5, 0.1, 0.9]))
    adv = torch.tensor([2.0, -1.0, 0.5, 3.0])
    expected = -np.mean(np.log([0.8, 0.5, 0.1, 0.9]) * np.array([2.0, -1.0, 0.5, 3.0]))
    assert policy_gradient_loss(logp, adv).item() == pytest.approx(expected, rel=1e-6)
    # with Spinning Up's standardised advantages
    z = (adv.numpy() - adv.numpy().mean()) / (adv.numpy().std() + 1e-8)
    assert policy_gradient_loss(logp, standardize(adv)).item() == pytest.approx(
        -np.mean(np.log([0.8, 0.5, 0.1, 0.9]) * z), rel=1e-5
    )


def test_one_policy_step_per_epoch_and_spinning_up_columns(tmp_path):
    steps = []
    original = pgrl.optim.Adam.step

    def counting_step(self, *args, **kwargs):
        steps.append(frozenset(id(p) for p in self.param_groups[0]["params"]))
        return original(self, *args, **kwargs)

    pgrl.optim.Adam.step = counting_step  # type: ignore[method-assign]
    try:
        agent, history = pgrl.vpg(
            "CartPole-v1", epochs=2, steps_per_epoch=200, num_envs=2, train_v_iters=3, eval_episodes=0,
            verbose=False, logger_kwargs={"output_dir": str(tmp_path)},
        )  # fmt: skip
    finally:
        pgrl.optim.Adam.step = original  # type: ignore[method-assign]
    pi = frozenset(id(p) for p in agent.ac.pi.parameters())
    v = frozenset(id(p) for p in agent.ac.v.parameters())
    assert steps == [pi, v, v, v] * 2  # per epoch: one policy step, then train_v_iters critic steps
    row = history[-1]
    for column in ("AverageEpRet", "AverageVVals", "TotalEnvInteracts", "LossPi", "LossV", "DeltaLossPi",
                   "DeltaLossV", "Entropy", "KL", "Time"):  # fmt: skip
        assert column in row
    assert "ClipFrac" not in row and "StopIter" not in row  # no clipping, no early stop in VPG
    assert row["TotalEnvInteracts"] == 400
    assert np.isfinite(row["KL"]) and row["Entropy"] > 0
    assert pgrl.load(tmp_path).config["algo"] == "vpg"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vpg_solves_cartpole_within_80k_steps(seed, tmp_path):
    """Budget: the CartPole-v1 preset, 80 epochs x 1000 steps (measured: solved in 10k-40k, seeds 0-4);
    deterministic evaluation (20 episodes, pgrl.evaluate) every 5000 steps, stopping at the first >= 475."""
    agent, history = pgrl.vpg(
        "CartPole-v1",
        seed=seed,
        verbose=False,
        eval_every=5000,
        callback=lambda epoch, row, agent: not row["EvalAverageEpRet"] >= SOLVED,
        logger_kwargs={"output_dir": str(tmp_path)},
    )
    assert history[-1]["TotalEnvInteracts"] <= 80_000
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", 20, seed=seed)
    assert returns.mean() >= SOLVED
