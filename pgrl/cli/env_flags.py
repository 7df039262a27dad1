"""The env flags the commands share: --env-kwargs and --wrapper (``pgrl train``, ``grid``, ``watch``), the
pixel preprocessing flags (``pgrl train``), and what they parse to (:mod:`pgrl.envs.named`)."""

from __future__ import annotations

import argparse
from typing import Any

from pgrl.envs.named import parse_kwargs


def add_env_kwargs_flags(p: argparse.ArgumentParser, where: str = "") -> None:
    """--env-kwargs KEY=VALUE ... and --wrapper module:Class [KEY=VALUE ...] (repeatable); ``where`` ends
    their help (e.g. "; for every run")."""
    p.add_argument(
        "--env-kwargs",
        nargs="+",
        metavar="KEY=VALUE",
        help="keyword arguments for gymnasium.make, each VALUE a JSON literal (is_slippery=false, map_name=8x8: "
        f"a VALUE that is not JSON is a string){where}",
    )
    p.add_argument(
        "--wrapper",
        dest="wrappers",
        action="append",
        nargs="+",
        metavar="ARG",
        help="a wrapper module:Class with optional KEY=VALUE (JSON) arguments, e.g. --wrapper "
        f"gymnasium.wrappers:FrameStackObservation stack_size=4; repeatable, applied in order{where}",
    )


def env_kwargs_options(args: argparse.Namespace) -> dict[str, Any]:
    """--env-kwargs and --wrapper as ``env_kwargs`` and ``wrappers`` (those given)."""
    out: dict[str, Any] = {}
    if args.env_kwargs:
        out["env_kwargs"] = parse_kwargs(args.env_kwargs)
    if args.wrappers:
        out["wrappers"] = [(w[0], parse_kwargs(w[1:], f"--wrapper {w[0]}")) for w in args.wrappers]
    return out


def add_env_flags(p: argparse.ArgumentParser) -> None:
    """--env, --env-kwargs, --wrapper and the pixel preprocessing flags (pgrl.envs.named)."""
    p.add_argument(
        "--env",
        help="gymnasium env id, e.g. CartPole-v1 (required unless --resume); an env a package registers: "
        "module:EnvId (minigrid:MiniGrid-Empty-5x5-v0), or module.function:EnvId for a registering function "
        "(minatar.gym.register_envs:MinAtar/Breakout-v1)",
    )
    add_env_kwargs_flags(p, "; recorded for eval, watch and resume")
    p.add_argument("--atari-preprocessing", action="store_true", default=None,
                   help="gymnasium's AtariPreprocessing (84x84 grayscale, frame skip 4; pass --env-kwargs frameskip=1)")  # fmt: skip
    p.add_argument("--grayscale", action="store_true", default=None, help="gymnasium's GrayscaleObservation")
    p.add_argument("--resize", type=int, nargs=2, metavar=("H", "W"), help="gymnasium's ResizeObservation")
    p.add_argument("--frame-stack", type=int, metavar="N", help="gymnasium's FrameStackObservation of N frames")


def env_options(args: argparse.Namespace) -> dict[str, Any]:
    """The env's run options from --env-kwargs, --wrapper and the pixel flags (those given)."""
    pixels = {
        "atari_preprocessing": args.atari_preprocessing,
        "grayscale": args.grayscale,
        "resize": tuple(args.resize) if args.resize else None,
        "frame_stack": args.frame_stack,
    }
    return {**env_kwargs_options(args), **{k: v for k, v in pixels.items() if v is not None}}
