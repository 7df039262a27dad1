"""The env as the user names it: an id (or a factory), keyword arguments for ``gymnasium.make`` and
wrappers, recorded in config.json so that eval, watch, resume and grid rebuild the same env.

- An id may name the package that registers it, in gymnasium's ``module:EnvId`` form
  (``minigrid:MiniGrid-Empty-5x5-v0``: pgrl imports ``minigrid`` first). When a package registers its
  envs through a function instead, name the function: ``minatar.gym.register_envs:MinAtar/Breakout-v1``
  (imported, then called with no arguments).
- ``env_kwargs`` go to ``gymnasium.make(id, **env_kwargs)``; on the command line ``--env-kwargs
  KEY=VALUE ...`` with each VALUE a JSON literal (``is_slippery=false``, ``map_name='"4x4"'``; a VALUE
  that is not JSON is taken as a string: ``map_name=4x4``). Nothing is evaluated.
- A wrapper is named ``module:Class`` like gymnasium's entry points, with optional keyword arguments
  (``("gymnasium.wrappers:FrameStackObservation", {"stack_size": 4})``); they wrap the env in order.
  Pixel preprocessing (:func:`pixel_wrappers`) adds gymnasium's own wrappers after them.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from pgrl.envs.mujoco_warnings import is_mujoco, route_mujoco_warnings
from pgrl.errors import PgrlError

WrapperSpec = str | type | tuple[str | type, Mapping[str, Any]]
"""A wrapper as a caller names it: ``"module:Class"``, the class itself, or either with its keyword arguments."""


def import_by_name(path: str, what: str) -> Any:
    """The object ``module:attribute`` (the attribute may be dotted), imported as gymnasium imports entry points."""
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise PgrlError(f"{what} {path!r} must be named module:Name, e.g. gymnasium.wrappers:FrameStackObservation")
    try:
        obj: Any = importlib.import_module(module)
        for name in attr.split("."):
            obj = getattr(obj, name)
    except ImportError as e:
        raise PgrlError(f"cannot import {what} {path!r}: {e}; install its package or fix the name") from e
    except AttributeError as e:
        raise PgrlError(f"cannot import {what} {path!r}: module {module!r} has no {attr!r}") from e
    return obj


def bare_id(env_id: str) -> str:
    """The env id without its ``module:`` prefix."""
    return env_id.rpartition(":")[2]


def register(env_id: str) -> str:
    """Import (or call) what the ``module:EnvId`` form names, and return the bare, registered id; an id that
    is still unknown is refused with a one-line message (with the close matches)."""
    if ":" in env_id and bare_id(env_id) not in gym.registry:  # registered already: nothing to import or call
        setup = env_id.rpartition(":")[0]
        try:
            importlib.import_module(setup)
        except ImportError:  # not a module: module.function, called with no arguments to register the envs
            module, _, function = setup.rpartition(".")
            fn = import_by_name(f"{module}:{function}", "env registration") if module else None
            if not callable(fn):
                raise PgrlError(
                    f"cannot import {setup!r} (named in the env id {env_id!r}); install its package"
                ) from None
            fn()
    name = bare_id(env_id)
    if name not in gym.registry:
        raise PgrlError(unknown_env_message(name))
    return name


def unknown_env_message(env_id: str) -> str:
    """The one-line message for an unknown env id, with the registered ids closest to it."""
    known = list(gym.registry.keys())
    close = difflib.get_close_matches(env_id, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see gymnasium.pprint_registry() for the ids"
    return f"unknown environment id {env_id!r}{hint} (an id that a package registers: module:EnvId)"


def make_by_id(env_id: str, kwargs: Mapping[str, Any]) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)``; a keyword the env does not take is refused, naming the ones it does."""
    name = register(env_id)
    if is_mujoco(name):
        route_mujoco_warnings()
    try:
        return gym.make(name, **kwargs)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise PgrlError(f"{name} does not take env_kwargs {sorted(kwargs)} ({e}); {env_arguments(name)}") from e


def env_arguments(env_id: str) -> str:
    """ "its arguments are a, b, c" for an env id (from its entry point's signature), for messages."""
    try:
        creator = gym.envs.registration.load_env_creator(gym.spec(env_id).entry_point)  # type: ignore[arg-type]
        names = [p for p in inspect.signature(creator).parameters if p not in ("self", "kwargs", "render_mode")]
    except Exception:  # an entry point without a readable signature
        return "see the env's documentation for its arguments"
    return f"its arguments are {', '.join(names)}" if names else "it takes no arguments"


def check_json(value: Any, what: str) -> Any:
    """``value`` if it is plain JSON (it goes into config.json), else a one-line :class:`PgrlError`."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise PgrlError(
            f"{what} must be JSON values (numbers, strings, booleans, None, lists, dicts) so that the run can be "
            f"rebuilt from config.json; got {value!r}"
        ) from e


def parse_kwargs(items: Sequence[str], what: str = "--env-kwargs") -> dict[str, Any]:
    """``["is_slippery=false", "map_name=8x8"]`` -> ``{"is_slippery": False, "map_name": "8x8"}`` (JSON literals;
    a value that is not JSON stays a string)."""
    out: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):  # a JSON object of keyword arguments
            try:
                parsed = json.loads(item)
            except json.JSONDecodeError as e:
                raise PgrlError(f"{what}: {item!r} is not a JSON object ({e})") from e
            if not isinstance(parsed, dict):
                raise PgrlError(f"{what}: {item!r} is not a JSON object")
            out.update(parsed)
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise PgrlError(f"{what} takes KEY=VALUE items (VALUE a JSON literal), got {item!r}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


@dataclass(frozen=True)
class Wrapper:
    """A wrapper by name (``module:Class``) and its keyword arguments."""

    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: WrapperSpec | Mapping[str, Any]) -> Wrapper:
        """From a :data:`WrapperSpec`, or config.json's ``{"wrapper": ..., "kwargs": ...}``."""
        if isinstance(spec, Mapping):
            return cls.parse((spec["wrapper"], spec.get("kwargs") or {}))
        target, kwargs = spec if isinstance(spec, tuple) else (spec, {})
        if isinstance(target, type):
            target = f"{target.__module__}:{target.__qualname__}"
        if not isinstance(target, str):
            raise PgrlError(f"a wrapper is named module:Class (or given as the class), got {target!r}")
        wrapper = cls(target, check_json(dict(kwargs), f"the keyword arguments of wrapper {target}"))
        wrapper.load()  # an unimportable wrapper is refused before anything is built
        return wrapper

    def load(self) -> type:
        cls = import_by_name(self.path, "wrapper")
        if not (isinstance(cls, type) and issubclass(cls, gym.Wrapper)):
            raise PgrlError(f"wrapper {self.path!r} is not a gymnasium.Wrapper class")
        return cls

    def __call__(self, env: gym.Env) -> gym.Env:
        # JSON has no tuples: a list argument is passed as a tuple (ResizeObservation's shape needs one)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in self.kwargs.items()}
        try:
            return self.load()(env, **kwargs)  # type: ignore[no-any-return]
        except TypeError as e:
            raise PgrlError(f"wrapper {self.path} refused its arguments {self.kwargs}: {e}") from e
        except (AssertionError, ValueError, gym.error.Error) as e:  # the wrapper's own check of the env
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if self.path == ATARI_PREPROCESSING and "frame-skipping" in reason:  # ALE's v5 envs skip 4 frames
                reason += "; make the env with --env-kwargs frameskip=1 (env_kwargs={'frameskip': 1})"
            raise PgrlError(
                f"wrapper {self.path} does not fit the env (observations {env.observation_space}): {reason}"
            ) from e

    def to_json(self) -> dict[str, Any]:
        return {"wrapper": self.path, "kwargs": dict(self.kwargs)}


ATARI_PREPROCESSING = "gymnasium.wrappers:AtariPreprocessing"


def pixel_wrappers(
    atari: bool = False, grayscale: bool = False, resize: Sequence[int] | None = None, frame_stack: int | None = None
) -> list[Wrapper]:
    """gymnasium's own pixel preprocessing, in this order: ``AtariPreprocessing`` (its defaults: 84x84
    grayscale, frame skip 4, noop starts; the env must not skip frames itself: ``frameskip=1``),
    ``GrayscaleObservation``, ``ResizeObservation`` (H, W), ``FrameStackObservation`` (the last N frames)."""
    out = []
    if atari:
        out.append(Wrapper(ATARI_PREPROCESSING))
    if grayscale:
        out.append(Wrapper("gymnasium.wrappers:GrayscaleObservation"))
    if resize is not None:
        if len(resize) != 2 or not all(isinstance(n, int) and n >= 1 for n in resize):
            raise PgrlError(f"resize takes a height and a width in pixels, e.g. (84, 84); got {resize!r}")
        out.append(Wrapper("gymnasium.wrappers:ResizeObservation", {"shape": list(resize)}))
    if frame_stack is not None:
        if isinstance(frame_stack, bool) or not isinstance(frame_stack, int) or frame_stack < 1:
            raise PgrlError(f"frame_stack must be a positive number of frames, got {frame_stack!r}")
        out.append(Wrapper("gymnasium.wrappers:FrameStackObservation", {"stack_size": frame_stack}))
    return out


@dataclass(frozen=True)
class NamedEnv:
    """An env id (or factory) with ``gymnasium.make`` keyword arguments and wrappers; a factory itself
    (``NamedEnv(...)()`` makes one env), so it goes wherever an env_fn goes."""

    env: str | Callable[[], gym.Env]
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[Wrapper, ...] = ()

    def __call__(self, **make_kwargs: Any) -> gym.Env:
        env = make_by_id(self.env, {**self.kwargs, **make_kwargs}) if isinstance(self.env, str) else self.env()
        for wrapper in self.wrappers:
            env = wrapper(env)
        return env

    @property
    def id(self) -> str | None:
        return self.env if isinstance(self.env, str) else None

    def config(self) -> dict[str, Any]:
        """config.json's ``env_kwargs`` and ``wrappers``."""
        return {"env_kwargs": dict(self.kwargs), "wrappers": [w.to_json() for w in self.wrappers]}


def name_env(
    env: str | Callable[[], gym.Env] | None,
    env_kwargs: Mapping[str, Any] | None = None,
    wrappers: Sequence[WrapperSpec] | None = None,
    pixels: Sequence[Wrapper] = (),
) -> Any:
    """``env`` with its keyword arguments and wrappers as a :class:`NamedEnv`, or ``env`` itself when there
    are none (so a plain id stays an id: envpool and the presets take it as it is)."""
    if env is None or (not env_kwargs and not wrappers and not pixels):
        return env
    if isinstance(env, NamedEnv):
        raise PgrlError("env_kwargs and wrappers are given once: in the NamedEnv or as options, not both")
    if env_kwargs and not isinstance(env, str):
        raise PgrlError("env_kwargs go to gymnasium.make and need an env id; an env_fn makes its env itself")
    kwargs = check_json(dict(env_kwargs or {}), "env_kwargs")
    return NamedEnv(env, kwargs, tuple(Wrapper.parse(w) for w in wrappers or ()) + tuple(pixels))


def options_config(
    env_kwargs: Mapping[str, Any] | None, wrappers: Sequence[WrapperSpec] | None, pixels: Sequence[Wrapper] = ()
) -> dict[str, Any] | None:
    """config.json's ``env_kwargs`` and ``wrappers`` of the env options a call gave (None: it gave none)."""
    if not env_kwargs and not wrappers and not pixels:
        return None
    return NamedEnv("", check_json(dict(env_kwargs or {}), "env_kwargs"),
                    tuple(Wrapper.parse(w) for w in wrappers or ()) + tuple(pixels)).config()  # fmt: skip


def from_config(config: Mapping[str, Any]) -> Any:
    """The env a run's config.json names: its id with the recorded env_kwargs and wrappers (None: no id)."""
    env_id = config.get("env_id")
    if not isinstance(env_id, str):
        return None
    wrappers = [Wrapper.parse(w) for w in config.get("wrappers") or []]
    return name_env(env_id, config.get("env_kwargs") or None, None, wrappers)
