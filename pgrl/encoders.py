"""Observation encoders: what turns the network's input (:mod:`pgrl.spaces`) into one feature vector.

Without an image the input already is a flat float vector, so pgrl's MLP networks take it as it is
(no encoder). With an image, :class:`ObsEncoder` encodes each image and concatenates the features with
the ``"vector"`` of the other parts:

- ``"cnn"`` (the default for images, ``encoder="auto"``): Nature-DQN's convolutions (Mnih et al. 2015:
  32 8x8 filters stride 4, 64 4x4 stride 2, 64 3x3 stride 1, then 512 units) for images at least 36
  pixels high and wide; for smaller ones (MinAtar's 10x10, MiniGrid's 7x7) the same pattern with the
  kernels that fit (16 and 32 3x3 filters, stride 1, then 256 units), as MinAtar's own baselines do.
  ReLU throughout, orthogonal initialisation with gain sqrt(2).
- ``"mlp"``: the image's pixels flattened, scaled to [0, 1]; the MLP behind does the rest.

Images arrive as uint8 (B, *shape) and are scaled to [0, 1] here, by the bounds of their space, so the
rollout keeps them as uint8.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgrl.errors import PgrlError
from pgrl.spaces import VECTOR_KEY, ObsLayout, Part, image_channels, image_geometry

ENCODERS = ("auto", "mlp", "cnn")
NATURE_MIN_SIDE = 36  # the smallest image Nature's three convolutions take


def check_encoder(name: str, value: object) -> None:
    """The config field's check: one of :data:`ENCODERS`."""
    if value is not None and value not in ENCODERS:
        raise PgrlError(f"{name} must be one of {', '.join(ENCODERS)}, got {value!r}")


def resolve_encoder(layout: ObsLayout, encoder: str) -> str | None:
    """The encoder an observation layout gets: None (no image: the MLP takes the flat vector), "cnn" or "mlp"."""
    check_encoder("encoder", encoder)
    if not layout.images:
        if encoder == "cnn":
            raise PgrlError(
                f"encoder 'cnn' needs an image observation (a uint8 Box HxWxC or CxHxW, at least 5x5); "
                f"this env observes {layout.space}: use encoder 'auto' or 'mlp'"
            )
        return None
    return "mlp" if encoder == "mlp" else "cnn"


class ImageInput(nn.Module):
    """A uint8 image batch (B, *shape) as float (B, C, H, W) in [0, 1] (stacked frames as channels)."""

    def __init__(self, space: gym.spaces.Box) -> None:
        super().__init__()
        self.shape = tuple(space.shape)
        low, high = float(np.min(space.low)), float(np.max(space.high))
        self.low, self.scale = low, 1.0 / max(high - low, 1e-8)
        self.h, self.w, self.channels_last = image_geometry(self.shape)
        self.c = image_channels(self.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.low) * self.scale
        b = x.shape[0]
        if len(self.shape) == 2:
            return x.reshape(b, 1, self.h, self.w)
        if self.channels_last:  # (B, [S,] H, W, C) -> (B, [S,] C, H, W)
            x = x.movedim(-1, -3)
        return x.reshape(b, self.c, self.h, self.w)


def nature_cnn(channels: int, h: int, w: int) -> tuple[nn.Sequential, int]:
    """Nature-DQN's convolutions (or the small-image variant, see the module docstring) and their width."""
    if min(h, w) >= NATURE_MIN_SIDE:
        convs = [nn.Conv2d(channels, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                 nn.Conv2d(64, 64, 3, 1), nn.ReLU()]  # fmt: skip
        units = 512
    else:
        convs = [nn.Conv2d(channels, 16, 3, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 1), nn.ReLU()]
        units = 256
    body = nn.Sequential(*convs, nn.Flatten())
    with torch.no_grad():
        flat = int(body(torch.zeros(1, channels, h, w)).shape[1])
    net = nn.Sequential(*convs, nn.Flatten(), nn.Linear(flat, units), nn.ReLU())
    for m in net:
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
            nn.init.zeros_(m.bias)  # type: ignore[arg-type]  # both layer kinds have a bias here
    return net, units


class ImageEncoder(nn.Module):
    """One image part: scaled, then the CNN (``"cnn"``) or flattened (``"mlp"``); ``out_dim`` features."""

    def __init__(self, part: Part, kind: str) -> None:
        super().__init__()
        assert isinstance(part.space, gym.spaces.Box)
        self.input = ImageInput(part.space)
        self.net: nn.Module
        self.out_dim: int
        if kind == "cnn":
            self.net, self.out_dim = nature_cnn(self.input.c, self.input.h, self.input.w)
        else:
            self.net, self.out_dim = nn.Flatten(), int(np.prod(part.space.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.input(x))  # type: ignore[no-any-return]


class ObsEncoder(nn.Module):
    """The network input of an observation with images (a dict, see :mod:`pgrl.spaces`) as one feature
    vector (B, out_dim): each image's features, then the ``"vector"`` of the other parts.

    Args:
        observation_space: the env's observation space (with at least one image).
        encoder: "cnn" or "mlp" (how the images are encoded), or "auto" (cnn).
    """

    def __init__(self, observation_space: gym.Space, encoder: str = "auto") -> None:
        super().__init__()
        layout = ObsLayout.of(observation_space)
        kind = resolve_encoder(layout, encoder)
        if kind is None:
            raise PgrlError(f"ObsEncoder is for observations with an image; {observation_space} has none")
        self.keys = list(layout.keys())
        # ModuleDict names cannot hold dots: the images are numbered, in the order of self.keys
        self.images = nn.ModuleList([ImageEncoder(p, kind) for p in layout.keys().values()])
        self.vector_dim = layout.vector_dim
        self.out_dim = self.vector_dim + sum(int(e.out_dim) for e in self.images)  # type: ignore[arg-type, misc]

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        features = [enc(obs[key]) for key, enc in zip(self.keys, self.images, strict=True)]
        if self.vector_dim:
            features.append(obs[VECTOR_KEY])
        return torch.cat(features, dim=-1) if len(features) > 1 else features[0]
