"""Many seeds in one process (pgrl.seeds): K agents' update as one batched computation equals K single-agent
updates, seeds do not leak into each other, and each seed's run directory is an ordinary run's."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgrl
from pgrl.algos.a2c import A2CConfig, a2c_update
from pgrl.algos.ppo import PPOConfig, ppo_update
from pgrl.algos.reinforce import REINFORCEConfig, reinforce_update
from pgrl.algos.vpg import VPGConfig, vpg_update
from pgrl.batch import Batch, minibatches
from pgrl.errors import TrainingInterrupted
from pgrl.nan_guard import NanGuard
from pgrl.networks import MLPActorCritic
from pgrl.optim import Optimizer, adam
from pgrl.seeds.networks import StackedActorCritic
from pgrl.seeds.optim import StackedAdam, StackedOptimizer

K, B, OBS = 3, 96, 4


def members(box: bool = False) -> list[MLPActorCritic]:
    obs = gym.spaces.Box(-1.0, 1.0, (OBS,))
    act = gym.spaces.Box(-1.0, 1.0, (2,)) if box else gym.spaces.Discrete(3)
    out = []
    for k in range(K):
        torch.manual_seed(100 + k)
        out.append(MLPActorCritic(obs, act, hidden_sizes=(16, 16)))
    return out


def agent_batches(nets: list[MLPActorCritic], box: bool) -> tuple[list[Batch], Batch]:
    """Agent k's own (B_k,) batch, and the (K, B) batch of all three (agent 1 has padding, which is garbage)."""
    g = torch.Generator().manual_seed(7)
    obs = torch.randn(K, B, OBS, generator=g)
    act = torch.randn(K, B, 2, generator=g) if box else torch.randint(0, 3, (K, B), generator=g)
    with torch.no_grad():
        logp = torch.stack([net.pi.log_prob_entropy(obs[k], act[k])[0] for k, net in enumerate(nets)])
    logp = logp + 0.05 * torch.randn(K, B, generator=g)
    adv, ret, val = (torch.randn(K, B, generator=g) for _ in range(3))
    valid = torch.ones(K, B)
    valid[1, B - 17 :] = 0.0  # agent 1 has 17 fewer samples: its batch is padded
    stacked = Batch(obs, act, logp, adv, ret, None, val, valid)
    own = []
    for k in range(K):
        n = int(valid[k].sum())
        own.append(Batch(obs[k, :n], act[k, :n], logp[k, :n], adv[k, :n], ret[k, :n], None, val[k, :n]))
    return own, stacked


def stacked_optimizer(params, lr: float, max_grad_norm: float | None, eps: float = 1e-8) -> StackedOptimizer:
    def failed(k: int, quantity: str, value: float) -> None:
        raise AssertionError(f"agent {k}: non-finite {quantity}")

    return StackedOptimizer(StackedAdam(params, K, lr, eps), max_grad_norm, [NanGuard() for _ in range(K)],
                            lambda: torch.ones(K, dtype=torch.bool), failed)  # fmt: skip


def solo_optimizer(params, lr: float, max_grad_norm: float | None, eps: float = 1e-8) -> Optimizer:
    return Optimizer(adam(params, lr=lr, eps=eps), max_grad_norm, NanGuard())


def assert_same_agents(stacked: StackedActorCritic, solo: list[MLPActorCritic]) -> None:
    for k, net in enumerate(solo):
        mine = copy.deepcopy(net)
        stacked.copy_to(k, mine)
        for (name, a), b in zip(mine.named_parameters(), net.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"agent {k}: {name}")


def assert_same_stats(stacked: dict, solo: list[dict]) -> None:
    for name, values in stacked.items():
        for k in range(K):
            value = values[k] if isinstance(values, np.ndarray) else values
            assert value == pytest.approx(solo[k][name], rel=1e-4, abs=1e-6), (name, k)


@pytest.mark.parametrize(
    "box, cfg",
    [
        (False, PPOConfig(update_epochs=3, minibatch_size=B, max_grad_norm=0.5, ent_coef=0.01, vf_clip=0.2)),
        (True, PPOConfig(update_epochs=3, minibatch_size=B, max_grad_norm=0.5)),
        # Spinning Up's two optimizers and KL early stop: the agents stop after different passes
        (
            False,
            PPOConfig(
                train_pi_iters=8,
                train_v_iters=3,
                minibatch_size=B,
                shared_optimizer=False,
                target_kl=0.0005,
                pi_lr=1e-2,
                norm_adv=False,
            ),
        ),
    ],
)
def test_ppo_update_of_agent_k_equals_its_single_agent_update(box, cfg):
    nets = members(box)
    own, stacked_batch = agent_batches(nets, box)
    solo_nets = [copy.deepcopy(n) for n in nets]
    stacked = StackedActorCritic(nets, [torch.Generator() for _ in range(K)])

    def optimizers(make, ac):
        if cfg.shared_optimizer:
            return {"ac": make(ac.parameters(), cfg.pi_lr, cfg.max_grad_norm, eps=1e-5)}
        return {"pi": make(ac.pi.parameters(), cfg.pi_lr, cfg.max_grad_norm),
                "v": make(ac.v.parameters(), cfg.vf_lr, cfg.max_grad_norm)}  # fmt: skip

    solo_stats = [ppo_update(cfg, n, b, optimizers(solo_optimizer, n), B) for n, b in zip(solo_nets, own, strict=True)]
    stats = ppo_update(cfg, stacked, stacked_batch, optimizers(stacked_optimizer, stacked), B)
    assert_same_agents(stacked, solo_nets)
    assert_same_stats(stats, solo_stats)
    if cfg.target_kl is not None:  # the case is meant to stop the agents at different passes
        assert len({s["StopIter"] for s in solo_stats}) > 1


def test_vpg_a2c_reinforce_updates_of_agent_k_equal_single_agent_updates():
    for name in ("vpg", "a2c", "reinforce"):
        nets = members()
        own, stacked_batch = agent_batches(nets, box=False)
        solo_nets = [copy.deepcopy(n) for n in nets]
        stacked = StackedActorCritic(nets, [torch.Generator() for _ in range(K)])
        if name == "vpg":
            cfg = VPGConfig(train_v_iters=5, max_grad_norm=1.0)
            solo = [vpg_update(cfg, n, b, solo_optimizer(n.pi.parameters(), 3e-3, 1.0),
                               solo_optimizer(n.v.parameters(), 1e-3, 1.0)) for n, b in zip(solo_nets, own, strict=True)]  # fmt: skip
            stats = vpg_update(cfg, stacked, stacked_batch, stacked_optimizer(stacked.pi.parameters(), 3e-3, 1.0),
                               stacked_optimizer(stacked.v.parameters(), 1e-3, 1.0))  # fmt: skip
        elif name == "a2c":
            cfg = A2CConfig(norm_adv=True, ent_coef=0.01)
            solo = [a2c_update(cfg, n, b, solo_optimizer(n.parameters(), 7e-4, 0.5)) for n, b in zip(solo_nets, own, strict=True)]  # fmt: skip
            stats = a2c_update(cfg, stacked, stacked_batch, stacked_optimizer(stacked.parameters(), 7e-4, 0.5))
        else:
            cfg = REINFORCEConfig(baseline=True, norm_returns=True, train_v_iters=4)
            solo = [reinforce_update(cfg, n, b, len(b), solo_optimizer(n.pi.parameters(), 1e-2, None),
                                     solo_optimizer(n.v.parameters(), 1e-3, None)) for n, b in zip(solo_nets, own, strict=True)]  # fmt: skip
            stats = reinforce_update(cfg, stacked, stacked_batch, 1, stacked_optimizer(stacked.pi.parameters(), 1e-2, None),
                                     stacked_optimizer(stacked.v.parameters(), 1e-3, None))  # fmt: skip
        assert_same_agents(stacked, solo_nets)
        assert_same_stats(stats, solo)


def test_an_agent_without_samples_takes_no_step_and_logs_nan():
    nets = members()
    _, batch = agent_batches(nets, box=False)
    batch.valid[2] = 0.0  # agent 2: no complete episode this epoch
    stacked = StackedActorCritic(nets, [torch.Generator() for _ in range(K)])
    before = [p.detach().clone() for p in stacked.parameters()]
    cfg = REINFORCEConfig()
    stats = reinforce_update(cfg, stacked, batch, 1, stacked_optimizer(stacked.pi.parameters(), 1e-2, None), None)
    assert np.isnan(stats["LossPi"][2]) and np.isfinite(stats["LossPi"][:2]).all()
    for p, b in zip(stacked.parameters(), before, strict=True):
        assert torch.equal(p[2], b[2])


def test_agents_minibatches_partition_each_agents_valid_samples_as_one_agents_would():
    valid = torch.ones(K, 100)
    valid[0, 70:] = 0.0  # 70 samples: 3 minibatches of 32, 32, 6; the others 100: 32, 32, 32, 4
    batch = Batch(torch.arange(K * 100.0).reshape(K, 100, 1), torch.zeros(K, 100), torch.zeros(K, 100),
                  torch.arange(K * 100.0).reshape(K, 100), torch.zeros(K, 100), valid=valid,
                  generators=[torch.Generator().manual_seed(k) for k in range(K)])  # fmt: skip
    parts = list(minibatches(batch, 32))
    assert len(parts) == 4
    for k, n in ((0, 70), (1, 100), (2, 100)):
        seen = torch.cat([mb.adv[k][mb.valid[k] > 0] for mb in parts])
        assert sorted(seen.tolist()) == [k * 100.0 + i for i in range(n)]  # each valid sample exactly once
        sizes = [int(mb.valid[k].sum()) for mb in parts]
        assert sizes == ([32, 32, 6, 0] if n == 70 else [32, 32, 32, 4])
    assert parts[-1].present.tolist() == [False, True, True]  # agent 0 takes no step on the last


def test_stacked_optimizer_stops_only_the_agent_whose_loss_is_not_finite():
    nets = members()
    stacked = StackedActorCritic(nets, [torch.Generator() for _ in range(K)])
    failures = []
    training = torch.ones(K, dtype=torch.bool)
    opt = StackedOptimizer(StackedAdam(stacked.parameters(), K, 1e-2), 0.5, [NanGuard(), NanGuard(), NanGuard("skip")],
                           lambda: training, lambda k, q, v: failures.append((k, q)))  # fmt: skip
    before = [p.detach().clone() for p in stacked.parameters()]
    x = torch.randn(K, 8, OBS)
    loss = stacked.v(x).pow(2).mean(-1) * torch.tensor([1.0, float("nan"), float("inf")])
    opt.step(loss)
    assert failures == [(1, "loss")]  # agent 1 ("stop") reported; agent 2 ("skip") counted
    assert opt.guards[2].skipped == 1
    for p, b in zip(stacked.parameters(), before, strict=True):
        assert not torch.equal(p[0], b[0]) or p.grad is None  # agent 0 stepped (where it has gradients)
        assert torch.equal(p[1], b[1]) and torch.equal(p[2], b[2])
    assert opt.adam.steps.tolist() == [1.0, 0.0, 0.0]


class SeedRewards(gym.Wrapper):
    """Doubles the rewards of the copies reset with seeds in [100, 200) (one seed's envs, below)."""

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.double = 100 <= seed < 200
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return obs, (2.0 * r if getattr(self, "double", False) else r), term, trunc, info


def plain_cartpole():
    return gym.make("CartPole-v1")


def doubled_cartpole():
    return SeedRewards(gym.make("CartPole-v1"))


def small_group(env_fn, seeds, out, algo=pgrl.ppo, **kw):
    kw = {"steps_per_epoch": 256, "epochs": 2, "num_envs": 4, "minibatch_size": 64, "update_epochs": 2,
          "eval_episodes": 0, **kw}  # fmt: skip
    return algo(env_fn=env_fn, seed=seeds, ac_kwargs=dict(hidden_sizes=[16]), verbose=False,
                logger_kwargs=dict(output_dir=str(out)), **kw)  # fmt: skip


def parameters(agent):
    return [p.detach().clone() for p in agent.ac.parameters()]


def test_seeds_do_not_leak_into_each_other(tmp_path):
    base = small_group(plain_cartpole, [0, 100, 300], tmp_path / "a", norm_obs=True)
    doubled = small_group(doubled_cartpole, [0, 100, 300], tmp_path / "b", norm_obs=True)
    other = small_group(plain_cartpole, [0, 200, 300], tmp_path / "c", norm_obs=True)
    for k in (0, 2):  # seed 100's env changed (its rewards doubled), or seed 100 replaced: the others alike
        for a, b, c in zip(parameters(base[k][0]), parameters(doubled[k][0]), parameters(other[k][0]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-6)
    assert not all(torch.allclose(a, b) for a, b in zip(parameters(base[1][0]), parameters(doubled[1][0]), strict=True))


def test_each_seed_is_an_ordinary_run_that_loads_evaluates_and_resumes(tmp_path):
    results = small_group("CartPole-v1", [3, 4], tmp_path, norm_obs=True, eval_episodes=4, eval_every=256)
    assert len(results) == 2
    for seed, (agent, history) in zip((3, 4), results, strict=True):
        run_dir = tmp_path / f"s{seed}"
        assert agent.run_dir == run_dir and len(history) == 2
        assert json.loads((run_dir / "config.json").read_text())["seed"] == seed
        loaded = pgrl.load(run_dir)
        obs = np.random.default_rng(0).normal(size=(5, 4))
        np.testing.assert_array_equal(loaded.act(obs, deterministic=True), agent.act(obs, deterministic=True))
        assert loaded.obs_rms is not None and np.allclose(loaded.obs_rms.mean, agent.obs_rms.mean)
        # the evaluations ran together, as each seed's own would have
        returns, _ = pgrl.evaluate(loaded, "CartPole-v1", 4, seed=seed)
        assert json.loads((run_dir / "eval.json").read_text())["mean_return"] == pytest.approx(returns.mean())
        assert history[-1]["EvalAverageEpRet"] == pytest.approx(returns.mean())
    # the seeds differ: each its own initialisation and experience
    assert not torch.allclose(parameters(results[0][0])[0], parameters(results[1][0])[0])
    _, history = pgrl.ppo(resume=str(tmp_path / "s4"), epochs=3, verbose=False, eval_episodes=2)
    assert [row["Epoch"] for row in history] == [1, 2, 3]


@pytest.mark.parametrize("algo", ["a2c", "vpg", "reinforce"])
def test_every_gradient_algorithm_trains_seeds_together(tmp_path, algo, capsys):
    fn = getattr(pgrl, algo)
    kw = {"a2c": dict(steps_per_epoch=200, epochs=2, num_envs=4), "vpg": dict(steps_per_epoch=256, epochs=2, num_envs=4),
          "reinforce": dict(steps_per_epoch=400, epochs=2, num_envs=2)}[algo]  # fmt: skip
    results = fn(env_fn="pgrl/ContinuousCartPole-v0" if algo == "vpg" else "CartPole-v1", seed=[0, 1],
                 ac_kwargs=dict(hidden_sizes=[16]), eval_episodes=2, logger_kwargs=dict(output_dir=str(tmp_path)),
                 **kw)  # fmt: skip
    assert "together in one process" in capsys.readouterr().out
    assert [len(h) for _, h in results] == [2, 2]
    assert all(np.isfinite(h[-1]["LossPi"]) for _, h in results)
    assert (tmp_path / "s1" / "eval.json").exists()


def test_seeds_the_network_cannot_stack_train_one_after_another(tmp_path, capsys):
    class Custom(MLPActorCritic):
        pass

    results = pgrl.ppo(env_fn="CartPole-v1", seed=[0, 1], actor_critic=Custom, steps_per_epoch=128, epochs=1,
                       num_envs=2, eval_episodes=0, logger_kwargs=dict(output_dir=str(tmp_path)))  # fmt: skip
    assert "train one after another: the network is your own" in capsys.readouterr().out
    assert len(results) == 2 and (tmp_path / "s0" / "checkpoint.pt").exists() and (tmp_path / "s1").exists()
    with pytest.raises(pgrl.PgrlError, match="distinct"):
        pgrl.ppo(env_fn="CartPole-v1", seed=[1, 1])


def test_seeds_learn_cartpole(tmp_path):
    results = pgrl.ppo(env_fn="CartPole-v1", seed=[0, 1, 2], epochs=12, eval_episodes=5, verbose=False,
                       logger_kwargs=dict(output_dir=str(tmp_path)))  # fmt: skip
    for agent, _ in results:
        assert json.loads((agent.run_dir / "eval.json").read_text())["mean_return"] > 150


def test_cli_seeds(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "pgrl", "train", "ppo", "--env", "CartPole-v1", "--seeds", "5", "6", "--epochs", "1",
           "--steps-per-epoch", "256", "--num-envs", "4", "--eval-episodes", "2", "--out", str(out), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("deterministic return") == 2
    assert (out / "s5" / "eval.json").exists() and (out / "s6" / "eval.json").exists()
    bad = subprocess.run([*cmd[:-3], "--seed", "1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "drop --seed" in bad.stderr and "Traceback" not in bad.stderr


def test_a_seed_that_stops_leaves_the_group_and_the_others_go_on_alike(tmp_path):
    def stop_seed_100(epoch, row, agent):
        return not (agent.config["seed"] == 100 and epoch >= 1)

    plain = small_group("CartPole-v1", [0, 100, 300], tmp_path / "a", epochs=3)
    stopped = small_group("CartPole-v1", [0, 100, 300], tmp_path / "b", epochs=3, callback=stop_seed_100)
    assert [len(h) for _, h in stopped] == [3, 1, 3]
    for k in (0, 2):
        for a, b in zip(parameters(plain[k][0]), parameters(stopped[k][0]), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the stopped seed's checkpoint holds its state when it stopped, and continues from there on its own
    saved = torch.load(tmp_path / "b" / "s100" / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["optimizers"]["ac"]["state"][0]["step"] > 0
    _, history = pgrl.ppo(resume=str(tmp_path / "b" / "s100"), epochs=2, verbose=False)
    assert [row["Epoch"] for row in history] == [1, 2]


def test_grid_trains_a_variants_new_seeds_together_and_skips_them_when_done(tmp_path):
    from pgrl.grid import Grid, seed_groups

    grid = Grid(tmp_path, algos=["ppo", "ars"], envs=["CartPole-v1"], seeds=[0, 1, 2], eval_episodes=2,
                steps_per_epoch=[256], epochs=[1])  # fmt: skip
    specs = [{"name": v.name, "label": v.label, "algo": v.algo, "run_dir": v.run_dir} for v in grid.variants()]
    tasks = seed_groups(specs, workers=1)
    groups = [t for t in tasks if "group" in t]
    assert [[m["label"].split("/")[-1] for m in g["group"]] for g in groups] == [["s0", "s1", "s2"]]  # ppo's
    assert sum("group" not in t for t in tasks) == 3  # ars: each run alone
    two = [len(t.get("group", [t])) for t in seed_groups(specs, workers=2) if not t["label"].startswith("ars")]
    assert sorted(two) == [1, 2]  # two workers: ppo's seeds in two groups
    summary = Grid(tmp_path, algos=["ppo"], envs=["CartPole-v1"], seeds=[0, 1, 2], eval_episodes=2,
                   steps_per_epoch=[256], num_envs=[4], epochs=[2]).run(workers=1, verbose=False)  # fmt: skip
    assert {r["status"] for r in summary.results} == {"done (seeds together)"}
    assert all((tmp_path / r["label"] / "eval.json").exists() for r in summary.results)
    again = Grid(tmp_path, algos=["ppo"], envs=["CartPole-v1"], seeds=[0, 1, 2], eval_episodes=2,
                 steps_per_epoch=[256], num_envs=[4], epochs=[2]).run(workers=1, verbose=False)  # fmt: skip
    assert {r["status"] for r in again.results} == {"skipped"}


def test_a_signal_stops_every_seed_with_its_checkpoint(tmp_path):
    import os
    import signal

    def interrupt(epoch, row, agent):
        if agent.config["seed"] == 1 and epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as stopped:
        small_group("CartPole-v1", [0, 1, 2], tmp_path, epochs=3, callback=interrupt)
    assert stopped.value.epoch == 1
    for seed in (0, 1, 2):  # every seed logged epoch 1 and saved it
        assert torch.load(tmp_path / f"s{seed}" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    _, history = pgrl.ppo(resume=str(tmp_path / "s2"), verbose=False)
    assert [row["Epoch"] for row in history] == [1, 2, 3]


def test_seeds_obey_action_masks_and_scale_rewards_each_their_own(tmp_path):
    from test_spaces_learning import Match

    Match.invalid_actions = 0
    results = pgrl.ppo(env_fn=lambda: Match("masked"), seed=[0, 1], steps_per_epoch=256, epochs=2, num_envs=4,
                       eval_episodes=4, norm_reward=True, verbose=False, logger_kwargs=dict(output_dir=str(tmp_path)))  # fmt: skip
    assert Match.invalid_actions == 0  # in the batched collection and the batched evaluations
    scales = []
    for seed in (0, 1):
        saved = torch.load(tmp_path / f"s{seed}" / "checkpoint.pt", weights_only=True)
        assert saved["reward_scaler"] is not None  # each seed's own statistics, restored when it resumes
        scales.append(saved["reward_scaler"]["rms"]["var"])
    assert scales[0] != scales[1] and len(results) == 2


def test_a_used_seed_directory_is_refused_before_any_seed_is_written(tmp_path):
    small_group("CartPole-v1", [1], tmp_path, epochs=1)  # a list of one seed: in <out>/s1 too
    assert (tmp_path / "s1" / "checkpoint.pt").exists()
    with pytest.raises(pgrl.PgrlError, match="s1' already holds a run"):
        small_group("CartPole-v1", [2, 1], tmp_path, epochs=1)
    assert not (tmp_path / "s2").exists()  # seed 2 came first, and nothing of it was written


def test_a_seed_resumed_on_its_own_continues_its_episodes(tmp_path, capsys):
    small_group("CartPole-v1", [0, 1], tmp_path, epochs=2)
    saved = torch.load(tmp_path / "s1" / "checkpoint.pt", weights_only=True)
    assert saved["collector"]["envs"] is not None and saved["collector"]["obs"] is not None  # its own copies'
    capsys.readouterr()
    pgrl.ppo(resume=str(tmp_path / "s1"), epochs=3, verbose=True)
    out = capsys.readouterr().out
    assert "Resuming ppo" in out and "cannot be restored" not in out


def test_a_groups_directory_resumes_its_seeds_as_a_group(tmp_path, capsys):
    import os
    import signal

    from pgrl.seeds.optim import StackedAdam

    def interrupt(epoch, row, agent):
        if agent.config["seed"] == 1 and epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    whole = small_group("CartPole-v1", [0, 1], tmp_path / "whole", epochs=3, norm_obs=True, norm_reward=True)
    tmp_path = tmp_path / "stopped"
    with pytest.raises(TrainingInterrupted):
        small_group("CartPole-v1", [0, 1], tmp_path, epochs=3, callback=interrupt, norm_obs=True, norm_reward=True)
    saved = {s: torch.load(tmp_path / f"s{s}" / "checkpoint.pt", weights_only=True) for s in (0, 1)}
    loaded = []  # each seed's Adam slice as the group loads it from its checkpoint
    original = StackedAdam.load_member

    def spy(self, k, state):
        original(self, k, state)
        loaded.append((k, {i: (self.exp_avg[i][k].clone(), float(self.steps[k])) for i in range(len(self.params))}))

    from pgrl.seeds.run import SeedRuns
    from pgrl.snapshot import decode

    rows = []  # the group's observations right after the seeds' collections were restored
    restore = SeedRuns._restore_collection

    def spy_rows(self, scalers):
        restore(self, scalers)
        rows.append(np.array(self.collector.obs, copy=True))

    StackedAdam.load_member, SeedRuns._restore_collection = spy, spy_rows
    try:
        capsys.readouterr()
        results = pgrl.ppo(resume=str(tmp_path), verbose=True)  # the group's --out: its seeds resume together
    finally:
        StackedAdam.load_member, SeedRuns._restore_collection = original, restore
    copies = len(rows[0]) // 2  # each seed's copies go on from the observations its checkpoint holds
    for k, s in enumerate((0, 1)):
        np.testing.assert_array_equal(rows[0][k * copies : (k + 1) * copies], decode(saved[s]["collector"]["obs"]))
    out = capsys.readouterr().out
    assert "together in one process" in out and out.count("Resuming ppo") >= 2
    assert "(seed 0) at epoch" in out and "(seed 1) at epoch" in out  # each member's line names its seed
    assert [[row["Epoch"] for row in h] for _, h in results] == [[1, 2, 3], [1, 2, 3]]
    # bit-identical to the group that was not interrupted: parameters and the resumed epochs' returns
    for (agent, history), (uninterrupted, its_history) in zip(results, whole, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(parameters(agent), parameters(uninterrupted), strict=True))
        assert [r["AverageEpRet"] for r in history[1:]] == [r["AverageEpRet"] for r in its_history[1:]]
    for k, state in loaded:  # the slices are the checkpoints' moments and step counts
        adam = saved[k]["optimizers"]["ac"]["state"]
        for i, (exp_avg, step) in state.items():
            torch.testing.assert_close(exp_avg, adam[i]["exp_avg"].reshape(exp_avg.shape))
            assert step == float(adam[i]["step"])
    assert sorted(k for k, _ in loaded) == [0, 1]
    for s in (0, 1):  # each went on from its checkpoint: its steps, its Adam count, its statistics
        after = torch.load(tmp_path / f"s{s}" / "checkpoint.pt", weights_only=True)
        assert after["epoch"] == 3 and after["total_steps"] == 3 * 256
        assert after["optimizers"]["ac"]["state"][0]["step"] > saved[s]["optimizers"]["ac"]["state"][0]["step"]
        assert after["obs_rms"]["count"] > saved[s]["obs_rms"]["count"]
        assert after["reward_scaler"]["rms"]["count"] > saved[s]["reward_scaler"]["rms"]["count"]
    # seeds at different epochs are refused in one line; a seed's own directory still resumes alone
    _, history = pgrl.ppo(resume=str(tmp_path / "s0"), epochs=4, verbose=False)
    assert history[-1]["Epoch"] == 4
    with pytest.raises(pgrl.PgrlError, match="stopped at different epochs"):
        pgrl.ppo(resume=str(tmp_path), epochs=5, verbose=False)
