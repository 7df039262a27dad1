"""Watching a policy without a display: episodes rendered as ``rgb_array`` frames, written as an
mp4 (imageio with imageio-ffmpeg's bundled ffmpeg, no system install) or a gif, and shown inline in
Jupyter/Colab.

Frames: each episode contributes its first frame (after ``reset``) and one frame after every step,
so a recording of episodes of lengths L1..Lk has ``L1 + ... + Lk + k`` frames, played at the env's
``render_fps``. An mp4 holds exactly those frames (padded to even sizes, unscaled). A gif plays for
exactly as long, but the gif writer (Pillow) merges consecutive identical frames into one frame shown
longer, so it may hold fewer frames than that.
"""

from __future__ import annotations

import base64
import html
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pgrl.agent import Agent
from pgrl.envs import EnvSpec, NamedEnv, check_spaces, make_env_fn
from pgrl.envs.limits import CAPPED, capped, env_label, warn_cut
from pgrl.errors import PgrlError
from pgrl.load import env_of_run, load
from pgrl.spaces import MASK_KEY, same_structure

VIDEO_FORMATS = (".mp4", ".gif")
VIZ_HINT = 'pip install "pgrl[viz]"'


def _imageio() -> Any:
    try:
        import imageio.v2 as iio
    except ImportError as e:
        raise PgrlError(f"writing videos needs imageio: {VIZ_HINT}") from e
    return iio


def _require_ffmpeg() -> None:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError as e:
        raise PgrlError(f"writing mp4 needs imageio-ffmpeg (it bundles ffmpeg): {VIZ_HINT}; or write a .gif") from e


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad a frame to even height and width (by repeating the last row/column): H.264 in yuv420p
    needs even sizes, and padding keeps the picture unscaled."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _rgb(frame: Any) -> np.ndarray:
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise PgrlError(f"the env rendered a frame of shape {a.shape}; expected (height, width, 3)")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a[:, :, :3]


def check_options(episodes: int = 1, seed: int = 0, fps: float | None = None, max_ep_len: int | None = None) -> None:
    """Refuse option values that cannot make a video, naming the value."""
    if episodes < 1:
        raise PgrlError(f"episodes must be >= 1, got {episodes}")
    if seed < 0:
        raise PgrlError(f"seed must be >= 0, got {seed}")
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= 1000):
        raise PgrlError(f"fps must be a number of frames per second in (0, 1000], got {fps}")
    if max_ep_len is not None and max_ep_len < 1:
        raise PgrlError(f"max_ep_len must be >= 1, got {max_ep_len}")


def check_video_path(path: str | os.PathLike[str]) -> Path:
    """The output path, refused unless it ends in .mp4 or .gif."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_FORMATS or not path.stem:
        raise PgrlError(f"the video file must end in .mp4 or .gif, got {str(path)!r}")
    return path


def write_video(frames: Any, path: str | os.PathLike[str], fps: float) -> Path:
    """Write RGB uint8 frames (an array (F, H, W, 3) or any iterable of (H, W, 3)) to ``path``; the
    format follows the extension: .mp4 (H.264, frames padded to even sizes) or .gif (looping)."""
    path = check_video_path(path)
    check_options(fps=fps)
    suffix = path.suffix.lower()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        open(path, "ab").close()  # a clear error now, rather than a broken pipe from ffmpeg later
        return _write_video(frames, path, suffix, fps)
    except OSError as e:
        reason = e.strerror or (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PgrlError(f"cannot write the video {str(path)!r}: {reason}") from e


def _write_video(frames: Any, path: Path, suffix: str, fps: float) -> Path:
    count = 0
    if suffix == ".mp4":
        iio = _imageio()
        _require_ffmpeg()
        writer = iio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error")  # fmt: skip
        try:
            for f in frames:
                writer.append_data(_even(_rgb(f)))
                count += 1
        finally:
            writer.close()
    else:
        frames = [_rgb(f) for f in frames]
        count = len(frames)
        if count:
            _write_gif(frames, path, fps)
    if count == 0:
        path.unlink(missing_ok=True)
        raise PgrlError("no frames to write")
    return path


def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """A looping gif with one 256-colour palette for all frames (median cut over four frames spread
    through the video; ~15x faster than quantizing every frame on its own). Pillow merges consecutive
    identical frames into one longer frame; gif delays are whole centiseconds."""
    try:
        from PIL import Image
    except ImportError as e:
        raise PgrlError(f"writing gifs needs Pillow: {VIZ_HINT}") from e
    picks = np.linspace(0, len(frames) - 1, min(4, len(frames))).astype(int)
    sample = Image.fromarray(np.concatenate([frames[i] for i in picks], axis=0))
    palette = sample.quantize(256, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=1000.0 / fps, loop=0)


@dataclass
class Video:
    """Recorded episodes: ``frames`` (F, H, W, 3) uint8, each episode's ``returns`` and ``lengths``.

    Shows itself inline in Jupyter (an HTML5 mp4 video, or a gif when ffmpeg is unavailable) and
    saves with :meth:`save`. ``len(video)`` is the number of frames: the sum of the episode lengths
    plus one first frame per episode.
    """

    frames: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray
    fps: float
    env_id: str = ""
    policy: str = ""
    _html_cache: str | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frames)

    def __repr__(self) -> str:
        h, w = self.frames.shape[1:3] if len(self.frames) else (0, 0)
        rets = ", ".join(f"{r:.1f}" for r in self.returns)
        return (
            f"Video({self.env_id or 'env'}, {self.policy}, {len(self.returns)} episode{'s' if len(self.returns) != 1 else ''}, "
            f"returns [{rets}], "
            f"{len(self)} frames of {w}x{h} at {self.fps:g} fps)"
        )

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if len(self.returns) else float("nan")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the video to ``path`` (.mp4 or .gif, by the extension); returns the path."""
        return write_video(self.frames, path, self.fps)

    def to_bytes(self, fmt: str = "mp4") -> bytes:
        """The encoded video ("mp4" or "gif")."""
        with tempfile.TemporaryDirectory() as tmp:
            path = self.save(Path(tmp) / f"video.{fmt}")
            return path.read_bytes()

    def to_html(self, fmt: str | None = None) -> str:
        """An HTML snippet that plays the video: ``<video>`` with a base64 mp4, or ``<img>`` with a gif
        (``fmt`` None: mp4 when imageio-ffmpeg is installed, else gif)."""
        if fmt is None:
            try:
                _require_ffmpeg()
                fmt = "mp4"
            except PgrlError:
                fmt = "gif"
        data = base64.b64encode(self.to_bytes(fmt)).decode("ascii")
        h, w = self.frames.shape[1:3]
        caption = html.escape(repr(self))
        if fmt == "mp4":
            body = (
                f'<video width="{w}" height="{h}" controls autoplay loop muted playsinline>'
                f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
            )
        else:
            body = f'<img width="{w}" height="{h}" src="data:image/gif;base64,{data}"/>'
        return f'<div>{body}<div style="font-family:monospace;font-size:small">{caption}</div></div>'

    def _repr_html_(self) -> str:
        if self._html_cache is None:
            self._html_cache = self.to_html()
        return self._html_cache


def render_env(env: EnvSpec, max_ep_len: int | None = None) -> gym.Env:
    """One env that renders rgb_array frames: an id is made with render_mode="rgb_array"; a factory
    must make its env that way itself. ``max_ep_len`` adds a time limit."""
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless:  # pygame-based renderers need no window for rgb_array; spare SDL's search for one
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    by_id = isinstance(env, str) or (isinstance(env, NamedEnv) and env.id is not None)
    make_kwargs = {"render_mode": "rgb_array"} if by_id else {}
    fn = capped(make_env_fn(env, max_ep_len, **make_kwargs))  # every episode ends (pgrl.envs.limits)
    try:
        e = fn()
    except gym.error.Error as err:
        raise PgrlError(f"could not make environment {env!r} for rendering: {err}") from err
    if e.render_mode != "rgb_array":
        e.close()
        raise PgrlError(
            f"the env renders in mode {e.render_mode!r}; watching needs render_mode='rgb_array' "
            "(make the env with gymnasium.make(..., render_mode='rgb_array') in your env factory)"
        )
    return e


def env_fps(env: gym.Env) -> float:
    """The env's ``metadata["render_fps"]`` (30 when it does not say)."""
    fps = env.metadata.get("render_fps")
    return float(fps) if fps else 30.0


def record_episodes(
    agent: Agent | None,
    env: gym.Env,
    episodes: int = 1,
    seed: int = 0,
    deterministic: bool = True,
    returns: list[float] | None = None,
    lengths: list[int] | None = None,
    on_episode: Callable[[int, float, int], None] | None = None,
) -> Iterator[np.ndarray]:
    """Yield the frames of ``episodes`` episodes of ``env`` (made by :func:`render_env`), one at a time
    (so a long recording can be streamed to a file without holding it in memory).

    Episode k starts from ``reset(seed=seed + k)``. ``agent`` None plays uniformly random actions
    (the action space seeded with ``seed``). Each finished episode's return and length are appended
    to ``returns`` and ``lengths`` and passed to ``on_episode(k, return, length)``.
    """
    check_options(episodes, seed)
    if agent is not None:
        check_spaces(env.observation_space, env.action_space)
        if not (
            same_structure(env.observation_space, agent.observation_space)
            and same_structure(env.action_space, agent.action_space)
        ):
            raise PgrlError(
                f"the agent was trained on observations {agent.observation_space} and actions {agent.action_space}; "
                f"this env has {env.observation_space} and {env.action_space}"
            )
    env.action_space.seed(seed)
    cut = 0
    for k in range(episodes):
        obs, info = env.reset(seed=seed + k)
        yield _rgb(env.render())
        ep_ret, ep_len = 0.0, 0
        while True:
            if agent is None:
                action = env.action_space.sample(mask=_sample_mask(env.action_space, info))
            else:
                mask = None if agent.layout.mask_in_obs else info.get(MASK_KEY)
                action = agent.act(obs, deterministic=deterministic, mask=mask)
            obs, reward, terminated, truncated, info = env.step(action)
            ep_ret += float(reward)
            ep_len += 1
            yield _rgb(env.render())
            if terminated or truncated:
                cut += bool(info.get(CAPPED))
                break
        if returns is not None:
            returns.append(ep_ret)
        if lengths is not None:
            lengths.append(ep_len)
        if on_episode is not None:
            on_episode(k, ep_ret, ep_len)
    warn_cut(cut, episodes, getattr(env.spec, "id", "the env"))


def _sample_mask(space: gym.Space, info: dict[str, Any]) -> Any:
    """A random policy obeys the env's ``info["action_mask"]`` of a Discrete space (gymnasium's own sampling)."""
    mask = info.get(MASK_KEY)
    if mask is None or not isinstance(space, gym.spaces.Discrete):
        return None
    return np.asarray(mask, dtype=np.int8)


def resolve_policy(
    agent_or_run_dir: Agent | str | os.PathLike[str] | None,
    env: EnvSpec | None,
    random: bool,
    actor_critic: Callable[..., Any] | None = None,
) -> tuple[Agent | None, EnvSpec, int | None, str]:
    """(agent or None for random, env, max_ep_len from the run, policy description)."""
    agent: Agent | None = None
    if isinstance(agent_or_run_dir, Agent):
        agent = agent_or_run_dir
    elif agent_or_run_dir is not None:
        agent = load(agent_or_run_dir, actor_critic=actor_critic)
    max_ep_len = agent.config.get("hyperparameters", {}).get("max_ep_len") if agent is not None else None
    if env is None:
        if agent is None:
            raise PgrlError("watch needs a trained agent (or run directory), or an env for a random policy")
        env = env_of_run(agent.config, agent.run_dir or "the run", purpose="watch")
    if random:
        description = "random policy"
        agent = None
    elif agent is None:
        raise PgrlError("no agent to watch: pass an agent or run directory, or random=True (--random) with an env")
    else:
        description = f"{agent.config.get('algo', 'trained')} agent"
    return agent, env, max_ep_len, description


def watch(
    agent_or_run_dir: Agent | str | os.PathLike[str] | None = None,
    env: EnvSpec | None = None,
    episodes: int = 1,
    seed: int = 0,
    deterministic: bool = True,
    random: bool = False,
    max_ep_len: int | None = None,
    fps: float | None = None,
    out: str | os.PathLike[str] | None = None,
    actor_critic: Callable[..., Any] | None = None,
) -> Video:
    """Record episodes of a policy as a :class:`Video` (shows inline in Jupyter; ``.save(path)``).

    Args:
        agent_or_run_dir: a trained :class:`pgrl.Agent`, or a run directory to load one from.
        env: env id or factory (default: the agent's env). A factory must make its env with
            ``render_mode="rgb_array"``.
        episodes: number of episodes; episode k starts from ``reset(seed=seed + k)``.
        deterministic: the policy's mode (argmax / Gaussian mean), as in evaluation; False samples.
        random: uniformly random actions instead of the agent (the "before training" picture); then
            only ``env`` is needed.
        max_ep_len: time limit per episode (default: the run's max_ep_len, else the env's own).
        fps: frames per second (default: the env's ``render_fps``, else 30).
        out: also save the video there (.mp4 or .gif).
        actor_critic: the network class, for a run that used a custom one (see :func:`pgrl.load`).

    The frames are kept in memory (CartPole: 0.7 MB per frame); for long recordings use the
    ``pgrl watch`` command, which streams them to the file.
    """
    check_options(episodes, seed, fps, max_ep_len)
    if out is not None:
        check_video_path(out)
    agent, env, run_max_ep_len, description = resolve_policy(agent_or_run_dir, env, random, actor_critic)
    returns: list[float] = []
    lengths: list[int] = []
    e = render_env(env, max_ep_len or run_max_ep_len)
    try:
        frames = list(record_episodes(agent, e, episodes, seed, deterministic, returns, lengths))
        fps = fps or env_fps(e)
    finally:
        e.close()
    video = Video(
        frames=np.stack(frames),
        returns=np.array(returns),
        lengths=np.array(lengths),
        fps=fps,
        env_id=env_label(env),
        policy=description,
    )
    if out is not None:
        video.save(out)
    return video
