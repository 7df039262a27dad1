"""Typed configuration: one frozen dataclass per algorithm, every hyperparameter declared once.

A hyperparameter is a dataclass field made by :func:`hyperparameter`, which carries its default, its
check and its help text::

    gamma: float = hyperparameter(0.99, "discount factor", unit_interval)

A subclass changes only a default by declaring the field again with a plain value
(``steps_per_epoch: int = 4000``); the check and help stay the base class's. Everything else is derived
from the fields, never kept by hand: the algorithm function's hyperparameter arguments (checked by
:func:`pgrl.algos.signature.check_signature`), the CLI flags and their types (``pgrl train``), the
axes a grid may vary (:mod:`pgrl.grid`), the docs' tables, and what a resumed run may change
(``resume="may change"``). The per-env presets (:mod:`pgrl.presets`) are plain data over the fields.

A run's values: the field defaults < the env's preset < what the caller passed (non-None values),
then checked (:meth:`Config.check`); config.json keeps them (:meth:`Config.to_json`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from pgrl.encoders import check_encoder
from pgrl.errors import PgrlError
from pgrl.presets import PRESETS

Check = Callable[[str, Any], object]
"""``check(name, value)`` raises :class:`PgrlError` naming the value and the valid range; None is allowed
(what it returns is ignored, so a converter such as :func:`finite` serves as a check)."""

Resume = Literal["keep", "may change"]


@dataclass(frozen=True)
class Hyperparameter:
    """What a config field carries besides its default (see :func:`hyperparameter`)."""

    name: str
    default: Any
    type: Any  # the field's type, e.g. float, int | None, tuple[int, ...]
    help: str
    check: Check | None = None
    resume: Resume = "keep"
    network: bool = False  # set through ac_kwargs (the network's arguments), not an argument of the algorithm

    @property
    def value_type(self) -> type:
        """The type of a value that is not None: bool, int, float, str or tuple."""
        t = self.type
        if typing.get_origin(t) in (types.UnionType, typing.Union):
            t = next(a for a in typing.get_args(t) if a is not type(None))
        return typing.get_origin(t) or t  # type: ignore[no-any-return]

    @property
    def item_type(self) -> type:
        """The element type of a tuple field (int for hidden_sizes)."""
        args = typing.get_args(self.type) if typing.get_origin(self.type) is tuple else ()
        return args[0] if args else str  # type: ignore[no-any-return]


def hyperparameter(
    default: Any, help: str, check: Check | None = None, *, resume: Resume = "keep", network: bool = False
) -> Any:
    """A config field: its default, its check (see the checks below), a one-line help text, and whether a
    resumed run may change it (e.g. ``epochs``, to train further). ``network=True``: a network argument
    (``hidden_sizes``, ``activation``), given through ``ac_kwargs`` and ``--hidden-sizes`` rather than as an
    argument of the algorithm function."""
    meta = {"help": help, "check": check, "resume": resume, "network": network}
    return dataclasses.field(default=default, metadata={"pgrl": meta})


# ------------------------------------------------------------------------------------------------ checks


FLOAT32_MAX = 3.4028234663852886e38
"""The largest float32: hyperparameters meet float32 tensors (torch.clamp refuses a bound beyond it)."""


def finite(name: str, value: Any) -> float | None:
    """The value as a float, refusing what is not a finite number within float32's range (None passes)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PgrlError(f"{name} must be a finite number, got {value!r}")
    if abs(value) > FLOAT32_MAX:
        raise PgrlError(f"{name} must be at most {FLOAT32_MAX:.3g} in size (float32's range), got {value!r}")
    return float(value)


def unit_interval(name: str, value: Any) -> None:
    v = finite(name, value)
    if v is not None and not 0.0 <= v <= 1.0:
        raise PgrlError(f"{name} must be in [0, 1], got {value}")


def positive(name: str, value: Any) -> None:
    v = finite(name, value)
    if v is not None and not v > 0:
        raise PgrlError(f"{name} must be > 0, got {value}")


def non_negative(name: str, value: Any) -> None:
    v = finite(name, value)
    if v is not None and not v >= 0:
        raise PgrlError(f"{name} must be >= 0, got {value}")


def positive_int(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise PgrlError(f"{name} must be a positive integer, got {value!r}")


def boolean(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool) and type(value).__name__ != "bool_":  # numpy's bool
        raise PgrlError(f"{name} must be True or False, got {value!r}")


def layer_sizes(name: str, value: Any) -> None:
    ok = isinstance(value, list | tuple) and all(
        isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in value
    )
    if value is not None and not ok:
        raise PgrlError(f"{name} must be a list of positive integers, got {value!r}")


# ------------------------------------------------------------------------------------------------ config


def steps_per_env(steps_per_epoch: int, num_envs: int) -> int:
    """T: steps each env collects per epoch (steps_per_epoch rounded up to a multiple of num_envs)."""
    return -(-steps_per_epoch // num_envs)


def batch_size(steps_per_epoch: int, num_envs: int) -> int:
    """The samples of one epoch: T * num_envs (see :func:`steps_per_env`)."""
    return steps_per_env(steps_per_epoch, num_envs) * num_envs


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: list(v) if isinstance(v, tuple | list) else v  # noqa: E731
    return bool(norm(a) == norm(b))


@dataclass(frozen=True)
class Config:
    """What every algorithm's configuration holds; a subclass per algorithm adds its own fields."""

    algo: ClassVar[str] = ""
    per_copy_seeds: ClassVar[bool] = False  # resets each env copy from its own seed (no native vector env)

    epochs: int = hyperparameter(50, "number of collect-and-update rounds", positive_int, resume="may change")
    max_ep_len: int | None = hyperparameter(None, "extra time limit per episode (a truncation)", positive_int)
    save_freq: int = hyperparameter(
        10, "checkpoint every this many epochs (and always at the end)", positive_int, resume="may change"
    )
    norm_obs: bool = hyperparameter(False, "running observation normalisation (saved with the model)", boolean)
    # 10 is what SB3's VecNormalize and CleanRL clip to: far enough out that a normal state is never cut,
    # close enough that an outlier early in training (few samples behind the statistics) cannot blow up the net.
    obs_clip: float = hyperparameter(
        10.0, "bound of the normalised observations, in running standard deviations (with norm_obs)", positive
    )
    hidden_sizes: tuple[int, ...] = hyperparameter((64, 64), "widths of the hidden layers", layer_sizes, network=True)
    activation: str = hyperparameter(
        "tanh", "activation of the hidden layers (tanh, relu, elu, gelu, ...)", network=True
    )
    encoder: str = hyperparameter(
        "auto", "how image observations are encoded: auto (a CNN when the observation has an image), cnn, or mlp "
        "(the pixels flattened)", check_encoder, network=True,
    )  # fmt: skip
    bias: bool = hyperparameter(
        True, "biases in the MLPs' linear layers (without them and without hidden layers, a Discrete "
        "observation's actor and critic are tables: a row of logits and a value per state)", boolean, network=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse values that cannot train, naming the value and its valid range (each field's check,
        then the checks across fields that a subclass adds)."""
        for hp in hyperparameters(type(self)):
            if hp.check is not None:
                hp.check(hp.name, getattr(self, hp.name))

    def envs_per_process(self, processes: int, rank: int) -> int:
        """Env copies each process steps (one process: all of them)."""
        raise NotImplementedError

    def budget(self) -> str:
        """The run's length in words, for its start line."""
        return f"{self.epochs} epochs"

    # ---------------------------------------------------------------------------------------- resolving

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {hp.name: hp.default for hp in hyperparameters(cls)}

    @classmethod
    def preset(cls, env_id: str) -> dict[str, Any]:
        """The env's preset for this algorithm (empty when pgrl has none); ``module:EnvId`` takes EnvId's."""
        return dict(PRESETS.get(cls.algo, {}).get(env_id.rpartition(":")[2], {}))

    @classmethod
    def interpret(cls, given: dict[str, Any]) -> dict[str, Any]:
        """What the caller's arguments mean together (e.g. PPO: vf_lr implies two optimizers)."""
        return given

    @classmethod
    def complete(cls, values: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        """A new run's values after defaults, preset and ``given`` are merged (e.g. PPO caps a preset's
        minibatch at a smaller batch the caller asked for)."""
        return values

    @classmethod
    def resolve(cls, env_id: str, given: Mapping[str, Any]) -> Self:
        """A new run's configuration: the defaults < the env's preset < ``given`` (its non-None values)."""
        given = cls.interpret({k: v for k, v in given.items() if v is not None})
        values = {**cls.defaults(), **cls.preset(env_id), **given}
        return cls(**cls.complete(values, given))

    @classmethod
    def resumed(cls, env_id: str, saved: Mapping[str, Any], given: Mapping[str, Any], run_dir: str) -> Self:
        """A resumed run's configuration: the values it saved. A run saved by an older pgrl may lack newer
        hyperparameters: they take their defaults, which are that older pgrl's behaviour (not the env's
        preset: a preset that sets a newer field, say MuJoCo's norm_reward, would change the run midway).
        ``given`` may repeat them and may change only the fields with ``resume="may change"``."""
        names = {hp.name for hp in hyperparameters(cls)}
        values = cls.defaults()
        values.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in names})
        may_change = [hp.name for hp in hyperparameters(cls) if hp.resume == "may change"]
        for name, value in cls.interpret({k: v for k, v in given.items() if v is not None}).items():
            if _same(values.get(name), value):
                continue
            if name not in may_change:
                raise PgrlError(
                    f"{name}={value!r} differs from the resumed run's {name}={values.get(name)!r}; a resumed run "
                    f"keeps its hyperparameters (only {', '.join(may_change)} may change)"
                )
            values[name] = value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The values as plain JSON (tuples as lists), for config.json's "hyperparameters"."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def network_kwargs(self, ac_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The network's arguments for pgrl's MLPActorCritic: ``ac_kwargs`` over the network fields."""
        kwargs = dict(ac_kwargs)
        for hp in hyperparameters(type(self)):
            if hp.network:
                value = getattr(self, hp.name)
                kwargs.setdefault(hp.name, tuple(value) if isinstance(value, list | tuple) else value)
        layer_sizes("hidden_sizes", kwargs["hidden_sizes"])
        return kwargs


@dataclass(frozen=True)
class RolloutConfig(Config):
    """The fields of the algorithms that learn from (T, N) rollouts with gradient steps."""

    num_envs: int = hyperparameter(8, "parallel env copies", positive_int)
    steps_per_epoch: int = hyperparameter(
        4096, "env steps per epoch, summed over all envs (rounded up to a multiple of num_envs)", positive_int
    )
    gamma: float = hyperparameter(0.99, "discount factor", unit_interval)
    max_grad_norm: float | None = hyperparameter(None, "clip the global gradient norm (None: no clipping)", positive)
    anneal_lr: bool = hyperparameter(False, "decay the learning rates linearly to zero over training", boolean)
    # Off by default: the course envs learn as they are, and the golden runs keep their numbers. On for MuJoCo
    # (the presets), where returns reach thousands and a critic fitting them unscaled learns slowly (Engstrom
    # et al. 2020; Andrychowicz et al. 2021), as SB3's VecNormalize and CleanRL do.
    norm_reward: bool = hyperparameter(
        False, "scale the rewards the learner sees by the running std of the discounted return (logged returns "
        "stay raw; the statistics are saved with the run)", boolean,
    )  # fmt: skip
    reward_clip: float = hyperparameter(10.0, "bound of the scaled rewards (with norm_reward)", positive)
    # Spinning Up's -0.5 (std 0.61) by default; CleanRL and SB3 start at 0 (std 1), which the MuJoCo presets take.
    log_std_init: float = hyperparameter(
        -0.5, "initial log standard deviation of a Gaussian policy (Box actions)", finite, network=True
    )

    def check(self) -> None:
        super().check()
        if self.num_envs > self.steps_per_epoch:
            raise PgrlError(
                f"num_envs {self.num_envs} is larger than steps_per_epoch {self.steps_per_epoch}: every env collects "
                f"at least one step, so an epoch would hold {self.num_envs} steps; lower num_envs or raise "
                "steps_per_epoch"
            )

    def envs_per_process(self, processes: int, rank: int) -> int:
        return self.num_envs

    def budget(self) -> str:
        batch = batch_size(self.steps_per_epoch, self.num_envs)
        return f"{self.epochs} epochs of {batch:,} steps ({self.epochs * batch:,} steps)"

    def steps_per_env(self, processes: int = 1) -> int:
        """T of an epoch in each env of one of ``processes`` data-parallel processes."""
        return steps_per_env(-(-self.steps_per_epoch // processes), self.num_envs)

    def segment_steps(self, processes: int = 1) -> int:
        """T of one collection, per env: the whole epoch (A2C: its n_steps)."""
        return self.steps_per_env(processes)


def hyperparameters(cls: type[Config]) -> tuple[Hyperparameter, ...]:
    """The fields of a config class that the caller sets, each with its help, check and resume rule
    (a field redeclared with a plain default takes those of the base class that declared it)."""
    if cls not in _HYPERPARAMETERS:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.init:  # fields with init=False are derived from the others (e.g. ARS's num_envs)
                out.append(Hyperparameter(f.name, f.default, hints[f.name], **_declaration(cls, f.name)))
        _HYPERPARAMETERS[cls] = tuple(out)
    return _HYPERPARAMETERS[cls]


_HYPERPARAMETERS: dict[type[Config], tuple[Hyperparameter, ...]] = {}


def _declaration(cls: type[Config], name: str) -> dict[str, Any]:
    """The :func:`hyperparameter` metadata of field ``name``, from the first class in ``cls``'s MRO that has it."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and "pgrl" in f.metadata:
            return dict(f.metadata["pgrl"])
    raise TypeError(f"{cls.__name__}.{name} is not declared with pgrl.config.hyperparameter")
