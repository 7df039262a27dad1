"""The gymnasium spaces pgrl takes, and how an observation becomes the network's input.

Observations: a Box of any shape, Discrete, MultiDiscrete, MultiBinary, and Dict / Tuple of those,
nested. An image is a uint8 (or bool) Box of shape HxWxC or CxHxW (H and W at least 5; a 2-D HxW Box
is one channel, a 4-D Box such as frame-stacked HxWxC frames stacks its leading axis into channels):
it stays uint8 in the rollout and is scaled to [0, 1] inside the network (:mod:`pgrl.encoders`). A Dict
key ``"action_mask"`` is the action mask, not an input; Text parts of a Dict or Tuple (MiniGrid's
mission) are left out with a notice. Graph, Sequence and a Text observation on its own are refused.

The network's input for a batch of B observations (see docs/custom-networks.md):

- without an image: a float32 tensor (B, obs_dim), every other part flattened in gymnasium's
  :func:`gymnasium.spaces.flatten` order: Box parts as their values (normalised when ``norm_obs``),
  Discrete parts one-hot, MultiDiscrete parts as concatenated one-hots, MultiBinary parts as 0/1;
- with an image: a dict of tensors, ``"vector"`` the (B, d) float32 of the other parts (absent when
  there are none) and one entry per image, its raw (B, *shape) uint8 (bool images as uint8).

Actions: Discrete, Box of any shape, MultiDiscrete and MultiBinary (:class:`ActionLayout`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgrl.errors import PgrlError

MASK_KEY = "action_mask"
"""The Dict observation key (and the ``info`` key) of an action mask: SB3-contrib's and PettingZoo's convention."""

VECTOR_KEY = "vector"
"""The key of the non-image parts in the network's input when the observation has an image."""

MIN_IMAGE_SIDE = 5  # the smallest height and width the CNN (two 3x3 convolutions) takes
FLAT = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
WHAT_PGRL_TAKES = "Box, Discrete, MultiDiscrete, MultiBinary, and Dict or Tuple of them"

Path = tuple[str | int, ...]


def is_image(space: gym.Space) -> bool:
    """A uint8 or bool Box of 2 to 4 axes whose height and width are at least 5 (see the module docstring)."""
    if not isinstance(space, gym.spaces.Box) or space.dtype not in (np.uint8, np.bool_):
        return False
    if not 2 <= len(space.shape) <= 4:
        return False
    h, w, _ = image_geometry(space.shape)
    return h >= MIN_IMAGE_SIDE and w >= MIN_IMAGE_SIDE


def image_geometry(shape: Sequence[int]) -> tuple[int, int, bool]:
    """(height, width, channels_last) of an image shape: HxW; HxWxC or CxHxW (the channels are the
    smaller of the first and the last axis, HxWxC when they tie); SxHxWxC or SxCxHxW (S stacked frames)."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), True
    last3 = shape[-3:]
    channels_last = last3[2] <= last3[0]
    h, w = (last3[0], last3[1]) if channels_last else (last3[1], last3[2])
    return int(h), int(w), channels_last


def image_channels(shape: Sequence[int]) -> int:
    """C of an image shape as the CNN sees it (stacked frames multiply the channels)."""
    if len(shape) == 2:
        return 1
    _, _, channels_last = image_geometry(shape)
    c = shape[-1] if channels_last else shape[-3]
    return int(c) * (int(shape[0]) if len(shape) == 4 else 1)


def is_text(space: gym.Space) -> bool:
    """A space of strings: gymnasium's Text, or another Space whose samples are strings (MiniGrid's MissionSpace)."""
    if isinstance(space, gym.spaces.Text):
        return True
    if type(space).__module__.startswith("gymnasium."):
        return False
    try:
        return isinstance(space.sample(), str)
    except Exception:  # a space that cannot sample is not one pgrl can leave out knowingly
        return False


def unsupported(space: gym.Space, what: str = "observation") -> PgrlError:
    """The one-line error for a space pgrl does not take, naming it, what pgrl takes and what to do."""
    advice = (
        "leave that part out (gymnasium.wrappers.FilterObservation) or encode it with an ObservationWrapper"
        if what == "observation"
        else "wrap the env so that it takes one of them"
    )
    return PgrlError(f"unsupported {what} space {space}: pgrl takes {WHAT_PGRL_TAKES}; {advice}")


@dataclass(frozen=True)
class Part:
    """One leaf of an observation space: where it sits (``path``: Dict keys and Tuple indices), its space,
    and its width in the flat vector (0 for an image)."""

    path: Path
    space: gym.Space
    width: int

    @property
    def image(self) -> bool:
        return self.width == 0

    @property
    def name(self) -> str:
        return ".".join(str(p) for p in self.path) or "image"

    def get(self, obs: Any) -> Any:
        for key in self.path:
            obs = obs[key]
        return obs

    def flat(self, x: np.ndarray) -> np.ndarray:
        """A batch of this part's values (B, *shape) as the float32 (B, width) of the flat vector."""
        s, n = self.space, len(x)
        if isinstance(s, gym.spaces.Discrete):
            out = np.zeros((n, self.width), dtype=np.float32)
            out[np.arange(n), np.asarray(x).reshape(n) - int(s.start)] = 1.0
            return out
        if isinstance(s, gym.spaces.MultiDiscrete):
            nvec, start = s.nvec.reshape(-1), s.start.reshape(-1)
            offsets = np.concatenate([[0], np.cumsum(nvec)[:-1]])
            out = np.zeros((n, self.width), dtype=np.float32)
            out[np.arange(n)[:, None], offsets + np.asarray(x).reshape(n, -1) - start] = 1.0
            return out
        return np.asarray(x, dtype=np.float32).reshape(n, -1)


def _leaves(space: gym.Space, path: Path, parts: list[Part], left_out: list[str], top: bool) -> None:
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            if not (top and key == MASK_KEY):
                _leaves(sub, (*path, key), parts, left_out, False)
    elif isinstance(space, gym.spaces.Tuple):
        for i, sub in enumerate(space.spaces):
            _leaves(sub, (*path, i), parts, left_out, False)
    elif not top and is_text(space):
        left_out.append(".".join(str(p) for p in path))
    elif isinstance(space, FLAT):
        parts.append(Part(path, space, 0 if is_image(space) else int(gym.spaces.flatdim(space))))
    else:
        raise unsupported(space)


@dataclass(frozen=True)
class ObsLayout:
    """How an observation space becomes the network's input (see the module docstring)."""

    space: gym.Space
    parts: tuple[Part, ...]
    left_out: tuple[str, ...] = ()  # Text parts, by path
    mask_in_obs: bool = False  # a Dict observation with an "action_mask" key
    box_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def of(cls, space: gym.Space) -> ObsLayout:
        """The layout of ``space``; an unsupported space is refused with a :class:`PgrlError` naming it."""
        parts: list[Part] = []
        left_out: list[str] = []
        _leaves(space, (), parts, left_out, True)
        if not parts:
            raise PgrlError(f"the observation space {space} has nothing pgrl can encode (it takes {WHAT_PGRL_TAKES})")
        columns: list[int] = []
        start = 0
        for p in parts:
            if isinstance(p.space, gym.spaces.Box) and not p.image:
                columns.extend(range(start, start + p.width))
            start += p.width
        mask = isinstance(space, gym.spaces.Dict) and MASK_KEY in space.spaces
        return cls(space, tuple(parts), tuple(left_out), mask, np.asarray(columns, dtype=np.int64))

    # ------------------------------------------------------------------------------------------ shape

    @property
    def single_box(self) -> bool:
        """The observation is one non-image Box: the network takes its values flattened (pgrl's first path)."""
        p = self.parts[0]
        return len(self.parts) == 1 and p.path == () and isinstance(p.space, gym.spaces.Box) and not p.image

    @property
    def images(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.image)

    @property
    def vector_dim(self) -> int:
        """Width of the flat vector of the non-image parts (obs_dim when there is no image)."""
        return sum(p.width for p in self.parts)

    @property
    def box_dim(self) -> int:
        """How many columns of the flat vector come from Box parts (what ``norm_obs`` normalises)."""
        return len(self.box_columns)

    def keys(self) -> dict[str, Part]:
        """The network input's keys of the images (only with images), each its part."""
        out: dict[str, Part] = {}
        for p in self.images:
            name = p.name if p.name not in (VECTOR_KEY, *out) else f"{p.name}_{len(out)}"
            out[name] = p
        return out

    # ------------------------------------------------------------------------------------------ values

    def vector(self, obs: Any) -> np.ndarray:
        """The flat float32 (B, vector_dim) of a batch's non-image parts, before normalisation."""
        cols = [p.flat(p.get(obs)) for p in self.parts if not p.image]
        return np.concatenate(cols, axis=1) if len(cols) > 1 else cols[0]

    def box_values(self, obs: Any) -> np.ndarray:
        """The Box columns of a batch (B, box_dim): what the observation statistics are made of."""
        if self.single_box:
            return np.asarray(obs).reshape(len(obs), -1)
        return self.vector(obs)[:, self.box_columns]

    def network_input(self, obs: Any, normalize: Any = None) -> torch.Tensor | dict[str, torch.Tensor]:
        """The network's input for a batch (see the module docstring); ``normalize`` maps the (B, box_dim)
        Box columns to their normalised values (None: left as they are)."""
        vector: torch.Tensor | None = None
        if self.vector_dim:
            values = self.vector(obs)
            if normalize is not None and self.box_dim:
                values[:, self.box_columns] = normalize(values[:, self.box_columns])
            vector = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        if not self.images:
            assert vector is not None
            return vector
        out: dict[str, torch.Tensor] = {VECTOR_KEY: vector} if vector is not None else {}
        for key, p in self.keys().items():
            x = np.ascontiguousarray(p.get(obs))
            out[key] = torch.from_numpy(x.view(np.uint8) if x.dtype == np.bool_ else x)
        return out

    def finite(self, obs: Any) -> bool:
        """Whether every float Box part of a batch is finite (the other parts cannot hold NaN)."""
        if self.single_box:
            return bool(np.isfinite(obs).all())
        return all(
            np.isfinite(p.get(obs)).all()
            for p in self.parts
            if isinstance(p.space, gym.spaces.Box) and p.space.dtype.kind == "f"
        )

    def float_parts(self, obs: Any) -> list[np.ndarray]:
        """The float Box parts of a batch, for :func:`pgrl.rollout.check_finite`'s messages."""
        return [
            np.asarray(p.get(obs))
            for p in self.parts
            if isinstance(p.space, gym.spaces.Box) and p.space.dtype.kind == "f"
        ]

    def stack(self, items: Sequence[Any]) -> Any:
        """Single observations (e.g. ``info["final_obs"]`` entries) as one batch."""
        if self.single_box:
            return np.stack(items)
        space = self.space
        out: Any = gym.vector.utils.create_empty_array(space, len(items))
        return gym.vector.utils.concatenate(space, list(items), out)

    def mask_of(self, obs: Any) -> np.ndarray | None:
        """The Dict observation's action mask of a batch (None without one)."""
        return np.asarray(obs[MASK_KEY]) if self.mask_in_obs else None

    # -------------------------------------------------------------------------------------- the door

    def batch(self, obs: Any) -> tuple[Any, bool]:
        """(a batch, whether ``obs`` was one observation) for :meth:`pgrl.agent.Agent.act`, refusing an
        observation that does not fit the space with a one-line :class:`PgrlError`."""
        single = check_observation(self.space, obs, self.parts)
        return (add_batch_axis(self.space, obs) if single else obs), single


def add_batch_axis(space: gym.Space, obs: Any) -> Any:
    """One observation as a batch of one (the Dict and Tuple structure kept)."""
    if isinstance(space, gym.spaces.Dict):
        return {k: add_batch_axis(space.spaces[k], obs[k]) if k in space.spaces else obs[k] for k in obs}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(add_batch_axis(s, o) for s, o in zip(space.spaces, obs, strict=True))
    if is_text(space):
        return (obs,)
    return np.asarray(obs)[None]


def _leaf_shape(space: gym.Space) -> tuple[int, ...]:
    if isinstance(space, gym.spaces.Discrete):
        return ()
    if isinstance(space, gym.spaces.MultiDiscrete):
        return tuple(space.nvec.shape)
    return tuple(space.shape or ())


def check_observation(space: gym.Space, obs: Any, parts: Sequence[Part]) -> bool:
    """Whether ``obs`` is one observation of ``space`` (True) or a batch (False); raises a one-line
    :class:`PgrlError` naming what was expected and what came when it is neither."""
    _check_structure(space, obs, ())
    single: bool | None = None
    for p in parts:
        x = np.asarray(p.get(obs))
        expected = _leaf_shape(p.space)
        where = f" at {p.name!r}" if p.path else ""
        kinds = "biuf" if isinstance(p.space, gym.spaces.Box) and p.space.dtype.kind == "f" else "biu"
        if x.dtype.kind not in kinds:
            raise PgrlError(
                f"the observation{where} has dtype {x.dtype}; the agent expects {p.space.dtype} values of {p.space}"
            )
        if x.shape == expected:
            one = True
        elif x.shape[1:] == expected and x.ndim == len(expected) + 1:
            one = False
        else:
            raise PgrlError(
                f"the observation{where} has shape {x.shape}; the agent expects {expected} for {p.space} "
                f"(or a batch (B, {', '.join(map(str, expected))}))".replace(", )", ")")
            )
        if single is not None and one != single:
            raise PgrlError("the observation mixes one observation's parts with a batch's; pass one or a batch")
        single = one
        _check_range(p.space, x, where)
    return bool(single)


def _check_structure(space: gym.Space, obs: Any, path: Path) -> None:
    where = f" at {'.'.join(map(str, path))!r}" if path else ""
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            raise PgrlError(f"the observation{where} is a {type(obs).__name__}; the agent expects a dict with keys "
                            f"{list(space.spaces)}")  # fmt: skip
        missing = [k for k, s in space.spaces.items() if k not in obs and not is_text(s)]
        extra = [k for k in obs if k not in space.spaces]
        if missing or extra:
            raise PgrlError(
                f"the observation{where} has keys {list(obs)}; the agent expects {list(space.spaces)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unexpected {extra})" if extra else "")
            )
        for k, sub in space.spaces.items():
            if k in obs:
                _check_structure(sub, obs[k], (*path, k))
    elif isinstance(space, gym.spaces.Tuple):
        if not isinstance(obs, tuple | list) or len(obs) != len(space.spaces):
            got = f"a {type(obs).__name__}" + (f" of {len(obs)}" if isinstance(obs, tuple | list) else "")
            raise PgrlError(f"the observation{where} is {got}; the agent expects a tuple of {len(space.spaces)}")
        for i, (sub, o) in enumerate(zip(space.spaces, obs, strict=True)):
            _check_structure(sub, o, (*path, i))


def _check_range(space: gym.Space, x: np.ndarray, where: str) -> None:
    if isinstance(space, gym.spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n - 1)
    elif isinstance(space, gym.spaces.MultiDiscrete):
        low_a, high_a = space.start, space.start + space.nvec - 1
        if x.size and ((x < low_a).any() or (x > high_a).any()):
            raise PgrlError(f"the observation{where} {x.tolist()} lies outside {space}")
        return
    else:
        return
    if x.size and (x.min() < low or x.max() > high):
        raise PgrlError(f"the observation{where} {x.tolist()} lies outside {space} ({low}..{high})")


def same_structure(a: gym.Space, b: gym.Space) -> bool:
    """Whether two spaces take the same observations or actions: the same kinds, keys, shapes and dtypes
    (a Box's bounds aside: config.json may keep only their summary), the same sizes of the discrete ones."""
    if is_text(a) and is_text(b):
        return True  # left out of the input: any space of strings will do
    if type(a) is not type(b):
        return False
    if isinstance(a, gym.spaces.Dict):
        return list(a.spaces) == list(b.spaces) and all(same_structure(a[k], b[k]) for k in a.spaces)  # type: ignore[attr-defined, index]
    if isinstance(a, gym.spaces.Tuple):
        return len(a.spaces) == len(b.spaces) and all(map(same_structure, a.spaces, b.spaces))  # type: ignore[attr-defined]
    if isinstance(a, gym.spaces.Box):
        return a.shape == b.shape and a.dtype == b.dtype
    return a == b
