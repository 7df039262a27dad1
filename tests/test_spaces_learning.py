"""PPO learns on the spaces users bring, on tiny envs made here: Dict and Tuple observations, MultiDiscrete
and MultiBinary actions, a masked Discrete env (invalid actions end the episode with a large penalty, and
the masked agent never takes one), pixels through the CNN. Each is solved (or, MultiBinary, trained
well above random) by the deterministic 20-episode evaluation in seconds (small PPO budgets picked by hand;
the tests run seed 0)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgrl
from pgrl.encoders import ObsEncoder

FAST = dict(num_envs=8, steps_per_epoch=512, minibatch_size=128, update_epochs=4, pi_lr=3e-3, verbose=False)


class Corridor(gym.Env):
    """Five cells; the target end is shown by a sign (Dict) or an index (Tuple); the right end: +1, the
    wrong one: -1. Solved: return 1 (two steps)."""

    def __init__(self, kind: str = "dict") -> None:
        self.kind = kind
        if kind == "dict":
            self.observation_space = gym.spaces.Dict(
                {"position": gym.spaces.Discrete(5), "target": gym.spaces.Box(-1.0, 1.0, (1,), np.float32)}
            )
        else:
            self.observation_space = gym.spaces.Tuple([gym.spaces.Discrete(5), gym.spaces.Discrete(2)])
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> Any:
        if self.kind == "dict":
            return {"position": self.pos, "target": np.array([1.0 if self.target else -1.0], np.float32)}
        return (self.pos, int(self.target))

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.pos, self.target = 2, bool(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.pos += 1 if int(action) == 1 else -1
        if self.pos in (0, 4):
            return self._obs(), 1.0 if (self.pos == 4) == self.target else -1.0, True, False, {}
        return self._obs(), 0.0, False, False, {}


class Match(gym.Env):
    """Four rounds: show a target (one-hot in a Box), score each entry of the action that matches it.

    ``kind``: "multidiscrete" (targets in {0,1,2} x {0,1}), "multibinary" (three bits) or "masked" (one of
    four actions; ``info["action_mask"]``, or the Dict key with ``mask_in="obs"``, allows a random subset
    that holds the target; an invalid action ends the episode with -10)."""

    invalid_actions: ClassVar[int] = 0

    def __init__(self, kind: str, mask_in: str = "info") -> None:
        self.kind, self.mask_in = kind, mask_in
        self.action_space: gym.Space = {
            "multidiscrete": gym.spaces.MultiDiscrete([3, 2]),
            "multibinary": gym.spaces.MultiBinary(3),
            "masked": gym.spaces.Discrete(4),
        }[kind]
        width = {"multidiscrete": 5, "multibinary": 3, "masked": 4}[kind]
        box = gym.spaces.Box(0.0, 1.0, (width,), np.float32)
        self.observation_space = (
            gym.spaces.Dict({"obs": box, "action_mask": gym.spaces.MultiBinary(4)}) if mask_in == "obs" else box
        )

    def _new_target(self) -> tuple[Any, dict]:
        r = self.np_random
        if self.kind == "multidiscrete":
            self.target = np.array([r.integers(3), r.integers(2)])
            x = np.zeros(5, np.float32)
            x[self.target[0]] = x[3 + self.target[1]] = 1.0
        elif self.kind == "multibinary":
            self.target = r.integers(0, 2, 3)
            x = self.target.astype(np.float32)
        else:
            self.target = int(r.integers(4))
            x = np.eye(4, dtype=np.float32)[self.target]
            self.mask = r.integers(0, 2, 4).astype(np.int8)
            self.mask[self.target] = 1
            if self.mask_in == "obs":
                return {"obs": x, "action_mask": self.mask}, {}
            return x, {"action_mask": self.mask}
        return x, {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._new_target()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        if self.kind == "masked":
            if not self.mask[int(action)]:
                Match.invalid_actions += 1
                obs, info = self._new_target()
                return obs, -10.0, True, False, info
            reward = float(int(action) == self.target)
        else:
            reward = float((np.asarray(action) == self.target).sum())
        obs, info = self._new_target()
        return obs, reward, self.t >= 4, False, info


class Quadrants(gym.Env):
    """A 12x12 grey picture with a bright 3x3 blob in one of four quadrants; act with the quadrant's number.
    Four rounds: solved at 4."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (12, 12, 1), np.uint8)
        self.action_space = gym.spaces.Discrete(4)

    def _obs(self) -> np.ndarray:
        self.quadrant = int(self.np_random.integers(4))
        img = np.full((12, 12, 1), 40, np.uint8)
        r, c = divmod(self.quadrant, 2)
        y, x = 6 * r + int(self.np_random.integers(0, 4)), 6 * c + int(self.np_random.integers(0, 4))
        img[y : y + 3, x : x + 3] = 255
        return img

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        reward = float(int(action) == self.quadrant)
        return self._obs(), reward, self.t >= 4, False, {}


def limited(make: Any, steps: int = 10) -> Any:
    return lambda: gym.wrappers.TimeLimit(make(), max_episode_steps=steps)


def train(env_fn: Any, tmp_path: Path, **kwargs: Any) -> tuple[pgrl.Agent, float]:
    agent, _ = pgrl.ppo(env_fn, seed=0, logger_kwargs={"output_dir": str(tmp_path)}, **{**FAST, **kwargs})
    returns, _ = pgrl.evaluate(agent, env_fn, episodes=20)
    return agent, float(returns.mean())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dict", "tuple"])
def test_dict_and_tuple_observations_are_solved(kind: str, tmp_path: Path) -> None:
    _agent, score = train(limited(lambda: Corridor(kind)), tmp_path, epochs=6)
    assert score == 1.0


@pytest.mark.slow
def test_multidiscrete_actions_are_solved(tmp_path: Path) -> None:
    _, score = train(lambda: Match("multidiscrete"), tmp_path, epochs=10)
    assert score == 8.0


@pytest.mark.slow
def test_multibinary_actions_train(tmp_path: Path) -> None:
    _, score = train(lambda: Match("multibinary"), tmp_path, epochs=8)
    assert score >= 10.0  # a random policy scores 6 (1.5 bits of 3 a round), the best 12


@pytest.mark.slow
def test_masked_discrete_is_solved_without_an_invalid_action(tmp_path: Path) -> None:
    Match.invalid_actions = 0
    agent, score = train(lambda: Match("masked"), tmp_path, epochs=8)
    assert score == 4.0
    env = Match("masked")
    obs, info = env.reset(seed=123)
    for _ in range(200):  # after training, through agent.act with the env's info mask, sampled too
        obs, _, term, _, info = env.step(agent.act(obs, mask=info["action_mask"]))
        if term:
            obs, info = env.reset()
    assert Match.invalid_actions == 0  # during training, the evaluation and after


def test_a_dict_observation_mask_is_obeyed_in_training_and_act(tmp_path: Path) -> None:
    Match.invalid_actions = 0
    agent, _ = pgrl.ppo(lambda: Match("masked", mask_in="obs"), epochs=2, eval_episodes=5,
                        logger_kwargs={"output_dir": str(tmp_path)}, **FAST)  # fmt: skip
    env = Match("masked", mask_in="obs")
    obs, _ = env.reset(seed=1)
    for _ in range(100):
        obs, _, term, _, _ = env.step(agent.act(obs))  # the observation's own "action_mask"
        if term:
            obs, _ = env.reset()
    assert Match.invalid_actions == 0


@pytest.mark.slow
def test_pixels_are_solved_with_the_cnn(tmp_path: Path) -> None:
    agent, score = train(Quadrants, tmp_path, epochs=12, ac_kwargs=dict(activation="relu"))
    assert isinstance(agent.ac.pi.encoder, ObsEncoder)
    assert any(isinstance(m, torch.nn.Conv2d) for m in agent.ac.pi.modules())
    assert score == 4.0
    saved = pgrl.load(tmp_path)  # the CNN and its uint8 input come back from the checkpoint
    obs = Quadrants().reset(seed=5)[0]
    assert saved.act(obs, deterministic=True) == agent.act(obs, deterministic=True)


SMOKE_ENVS = {
    "dict": limited(lambda: Corridor("dict")),
    "tuple": limited(lambda: Corridor("tuple")),
    "multidiscrete": lambda: Match("multidiscrete"),
    "multibinary": lambda: Match("multibinary"),
    "masked": lambda: Match("masked"),
    "pixels": Quadrants,
}
REFUSED = {
    ("ars", "masked"): "ars does not use action masks",
    ("ars", "pixels"): "ars takes observations without images",
}


@pytest.mark.parametrize("algo", ["vpg", "a2c", "reinforce", "ars"])
@pytest.mark.parametrize("env", list(SMOKE_ENVS))
def test_every_algorithm_takes_the_spaces_it_can(algo: str, env: str, tmp_path: Path) -> None:
    """VPG, A2C and REINFORCE take every space and mask; ARS (a deterministic search over the MLP from the flat
    observation) takes all but images and masks, and says so."""
    Match.invalid_actions = 0
    kwargs: dict[str, Any] = dict(epochs=2, eval_episodes=2, verbose=False, logger_kwargs={"output_dir": str(tmp_path)})
    if algo == "ars":
        kwargs.update(n_directions=2, top_b=1)
    else:
        kwargs.update(num_envs=2, steps_per_epoch=64)
    run = getattr(pgrl, algo)
    if (algo, env) in REFUSED:
        with pytest.raises(pgrl.PgrlError, match=REFUSED[algo, env]):
            run(SMOKE_ENVS[env], **kwargs)
        return
    agent, history = run(SMOKE_ENVS[env], **kwargs)
    assert len(history) == 2 and (tmp_path / "eval.json").exists()
    assert Match.invalid_actions == 0
    saved = pgrl.load(tmp_path)
    obs = SMOKE_ENVS[env]().reset(seed=3)[0]
    np.testing.assert_array_equal(saved.act(obs, deterministic=True), agent.act(obs, deterministic=True))
