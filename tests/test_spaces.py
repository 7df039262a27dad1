"""Observation spaces: the flat vector equals gymnasium's own flatten, images stay uint8, the door refuses
observations that do not fit, and config.json describes every space compactly (old files still read)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pgrl.agent import Agent
from pgrl.checkpoint import space_from_json, space_to_json
from pgrl.envs import make_vec_env
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic
from pgrl.normalize import RunningMeanStd
from pgrl.rollout import Collector
from pgrl.spaces import VECTOR_KEY, ObsLayout, image_channels, image_geometry, is_image, same_structure

Box, Discrete, MultiDiscrete, MultiBinary = (
    gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary
)  # fmt: skip

FLAT_SPACES = {
    "box": Box(-2.0, 3.0, (2, 3), np.float32),
    "discrete": Discrete(5, start=-2),
    "multidiscrete": MultiDiscrete(np.array([[2, 3], [4, 2]]), start=np.array([[0, 1], [-1, 0]])),
    "multibinary": MultiBinary(4),
    "tuple": gym.spaces.Tuple([Discrete(3), Box(0.0, 1.0, (2,), np.float32), MultiBinary(2)]),
    "nested": gym.spaces.Dict(
        {"b": gym.spaces.Tuple([Discrete(2), gym.spaces.Dict({"x": Box(-1, 1, (1,))})]), "a": MultiDiscrete([3, 2])}
    ),
}


@pytest.mark.parametrize("name", list(FLAT_SPACES))
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 5))
def test_flat_vector_is_gymnasiums_flatten(name: str, seed: int, batch: int) -> None:
    space = FLAT_SPACES[name]
    space.seed(seed)
    samples = [space.sample() for _ in range(batch)]
    batched = gym.vector.utils.concatenate(
        space,
        samples,
        gym.vector.utils.create_empty_array(space, batch),  # type: ignore[arg-type]
    )
    layout = ObsLayout.of(space)
    expected = np.stack([gym.spaces.flatten(space, s) for s in samples]).astype(np.float32)
    np.testing.assert_array_equal(layout.vector(batched), expected)
    assert layout.vector_dim == gym.spaces.flatdim(space)
    x = layout.network_input(batched)
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (batch, layout.vector_dim)


def test_norm_obs_touches_only_the_box_columns() -> None:
    space = gym.spaces.Dict({"d": Discrete(3), "x": Box(-10, 10, (2,), np.float32)})
    layout = ObsLayout.of(space)
    assert layout.box_dim == 2 and layout.box_columns.tolist() == [3, 4]
    obs = {"d": np.array([2]), "x": np.array([[4.0, -6.0]], dtype=np.float32)}
    x = layout.network_input(obs, normalize=lambda v: v / 2)
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 1, 2.0, -3.0]])  # the one-hot is left alone


@pytest.mark.parametrize(
    "shape, hwc",
    [((84, 84), (84, 84, True)), ((96, 96, 3), (96, 96, True)), ((4, 84, 84), (84, 84, False)),
     ((7, 7, 3), (7, 7, True)), ((4, 96, 96, 3), (96, 96, True)), ((2, 3, 64, 48), (64, 48, False))],
)  # fmt: skip
def test_image_geometry(shape: tuple[int, ...], hwc: tuple[int, int, bool]) -> None:
    assert image_geometry(shape) == hwc
    assert is_image(Box(0, 255, shape, np.uint8))
    channels = {2: 1, 3: min(shape[0], shape[-1])}.get(len(shape), shape[0] * min(shape[1], shape[-1]))
    assert image_channels(shape) == channels


@pytest.mark.parametrize(
    "space",
    [Box(0, 255, (128,), np.uint8), Box(0, 255, (3, 3, 3), np.uint8), Box(0.0, 1.0, (84, 84, 3), np.float32)],
)
def test_not_images(space: gym.spaces.Box) -> None:
    assert not is_image(space)  # RAM bytes, too small for the CNN, float pixels: flat Box parts
    assert not ObsLayout.of(space).images


def test_an_image_in_a_dict_stays_uint8_beside_the_vector() -> None:
    space = gym.spaces.Dict(
        {"image": Box(0, 255, (7, 7, 3), np.uint8), "direction": Discrete(4), "mission": gym.spaces.Text(10)}
    )
    layout = ObsLayout.of(space)
    assert layout.left_out == ("mission",) and layout.vector_dim == 4
    obs = {"image": np.full((2, 7, 7, 3), 200, np.uint8), "direction": np.array([1, 3]), "mission": ("a", "b")}
    x = layout.network_input(obs)
    assert isinstance(x, dict) and set(x) == {VECTOR_KEY, "image"}
    assert x["image"].dtype == torch.uint8 and x["image"].shape == (2, 7, 7, 3)
    np.testing.assert_array_equal(x[VECTOR_KEY].numpy(), [[0, 1, 0, 0], [0, 0, 0, 1]])


def test_bool_images_are_images() -> None:  # MinAtar's 10x10x4 bool grid
    layout = ObsLayout.of(Box(0, 1, (10, 10, 4), bool))
    x = layout.network_input(np.ones((3, 10, 10, 4), dtype=bool))
    assert isinstance(x, dict) and x["image"].dtype == torch.uint8 and int(x["image"].max()) == 1


def test_action_mask_key_is_not_an_input() -> None:
    space = gym.spaces.Dict({"action_mask": MultiBinary(3), "obs": Box(-1, 1, (2,))})
    layout = ObsLayout.of(space)
    assert layout.mask_in_obs and layout.vector_dim == 2


# -------------------------------------------------------------------------------------------- the door


def _agent(space: gym.Space) -> Agent:
    ac = MLPActorCritic(space, Discrete(2), hidden_sizes=(4,))
    return Agent(ac, space, Discrete(2))


@pytest.mark.parametrize(
    "space, obs, message",
    [
        (Box(-1, 1, (4,)), np.zeros(3), r"has shape \(3,\); the agent expects \(4,\) for Box"),
        (Box(-1, 1, (4,)), np.zeros((2, 3, 4)), r"has shape \(2, 3, 4\); the agent expects \(4,\)"),
        (Box(0, 255, (8, 8, 1), np.uint8), np.zeros((8, 8, 1), np.float32), "has dtype float32; the agent expects uint8"),
        (Box(-1, 1, (2,)), np.array(["a", "b"]), "has dtype <U1"),
        (Discrete(3), 5, r"lies outside Discrete\(3\)"),
        (gym.spaces.Dict({"a": Discrete(2), "b": Box(-1, 1, (1,))}), {"a": 1}, r"keys \['a'\]; the agent expects \['a', 'b'\] \(missing \['b'\]\)"),
        (gym.spaces.Dict({"a": Discrete(2)}), {"a": 1, "z": 0}, r"\(unexpected \['z'\]\)"),
        (gym.spaces.Dict({"a": Discrete(2)}), np.zeros(2), "is a ndarray; the agent expects a dict"),
        (gym.spaces.Tuple([Discrete(2), Discrete(3)]), (1,), "is a tuple of 1; the agent expects a tuple of 2"),
    ],
)  # fmt: skip
def test_act_refuses_observations_that_do_not_fit(space: gym.Space, obs: object, message: str) -> None:
    with pytest.raises(PgrlError, match=message) as e:
        _agent(space).act(obs)
    assert "\n" not in str(e.value)


def test_act_takes_one_observation_or_a_batch_of_every_kind() -> None:
    space = gym.spaces.Dict({"a": Discrete(3), "img": Box(0, 255, (6, 6, 1), np.uint8)})
    agent = _agent(space)
    one = {"a": 2, "img": np.zeros((6, 6, 1), np.uint8)}
    assert isinstance(agent.act(one, deterministic=True), int)
    batch = {"a": np.array([0, 1, 2]), "img": np.zeros((3, 6, 6, 1), np.uint8)}
    assert agent.act(batch).shape == (3,)
    assert isinstance(_agent(Discrete(4)).act(3), int)
    assert isinstance(_agent(gym.spaces.Tuple([Discrete(2), MultiBinary(2)])).act((1, np.array([0, 1]))), int)


# -------------------------------------------------------------------------------------------- config.json


ALL_SPACES = [
    *FLAT_SPACES.values(),
    Box(0, 255, (96, 96, 3), np.uint8),
    gym.spaces.Dict({"image": Box(0, 255, (7, 7, 3), np.uint8), "mission": gym.spaces.Text(20)}),
    Box(np.arange(100, dtype=np.float32), np.arange(100, dtype=np.float32) + 1),
]


@pytest.mark.parametrize("space", ALL_SPACES, ids=lambda s: type(s).__name__)
def test_spaces_round_trip_through_config_json(space: gym.Space) -> None:
    back = space_from_json(json.loads(json.dumps(space_to_json(space))))
    assert same_structure(space, back)
    if not (isinstance(space, Box) and space.low.size > 64):
        assert back == space  # small or uniform bounds are kept exactly


def test_large_spaces_are_summarised() -> None:
    pixels = space_to_json(Box(0, 255, (96, 96, 3), np.uint8))
    assert pixels == {"type": "Box", "shape": [96, 96, 3], "dtype": "uint8", "low": 0, "high": 255}
    varied = space_to_json(Box(np.zeros(1000, np.float32), np.arange(1000, dtype=np.float32) + 1))
    assert varied["bounds"] == "summary" and varied["low"] == 0.0 and varied["high"] == 1000.0
    assert len(json.dumps(varied)) < 200


def test_old_config_json_with_every_bound_still_loads() -> None:
    old = {"type": "Box", "shape": [2], "dtype": "float32", "low": [-1.0, -2.0], "high": [1.0, 2.0]}
    assert space_from_json(old) == Box(np.array([-1, -2], np.float32), np.array([1, 2], np.float32))
    old_uniform = {"type": "Box", "shape": [1], "dtype": "float32", "low": [-1.0], "high": [1.0]}
    assert space_from_json(old_uniform) == Box(-1.0, 1.0, (1,), np.float32)


def test_refused_spaces_name_the_space_and_what_to_do() -> None:
    for space in [gym.spaces.Text(4), gym.spaces.Graph(Box(0, 1, (2,)), None),
                  gym.spaces.Dict({"s": gym.spaces.Sequence(Discrete(2))})]:  # fmt: skip
        with pytest.raises(
            PgrlError, match=r"unsupported observation space .*pgrl takes Box, Discrete.*leave that part"
        ):
            ObsLayout.of(space)


class _Picture(gym.Env):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict(
            {"image": Box(0, 255, (8, 8, 3), np.uint8), "speed": Box(-1.0, 1.0, (1,), np.float32)}
        )
        self.action_space = Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: object) -> tuple[dict, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}


def test_the_rollout_keeps_images_as_uint8() -> None:
    envs = make_vec_env(_Picture, 2, seed=0)
    space = envs.single_observation_space
    agent = Agent(MLPActorCritic(space, Discrete(2), hidden_sizes=(4,)), space, Discrete(2), RunningMeanStd((1,)))
    rollout = Collector(envs, agent, 5, seed=0).collect()
    assert isinstance(rollout.obs, dict)
    assert rollout.obs["image"].dtype == np.uint8 and rollout.obs["image"].shape == (5, 2, 8, 8, 3)
    assert rollout.obs[VECTOR_KEY].dtype == np.float32 and rollout.obs[VECTOR_KEY].shape == (5, 2, 1)
    assert agent.obs_rms is not None and agent.obs_rms.mean.shape == (1,)  # statistics of the Box part only
