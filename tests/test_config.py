"""Typed configuration: every hyperparameter is declared once, in its algorithm's config class, and the
signatures, CLI flags, grid axes, docs tables and resume rules all come from there."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

import pgrl
from pgrl import options
from pgrl.algos.registry import ALGORITHMS
from pgrl.algos.signature import algorithm, check_signature
from pgrl.cli import build_parser, main
from pgrl.config import Config, RolloutConfig, hyperparameter, hyperparameters, positive_int
from pgrl.errors import PgrlError
from pgrl.grid import Grid, axes
from pgrl.presets import PRESETS
from pgrl.training.call import CALL_ARGUMENTS

ALGOS = sorted(ALGORITHMS)


@pytest.mark.parametrize("algo", ALGOS)
def test_signature_is_the_config_fields_plus_the_run_options(algo: str) -> None:
    """The drift the design issue found (ars lacked nan_policy) cannot happen again."""
    info = ALGORITHMS[algo]
    params = inspect.signature(info.fn).parameters
    fields = {hp.name for hp in hyperparameters(info.config) if not hp.network}
    assert set(params) - {"options"} == fields | (set(CALL_ARGUMENTS) & set(params))
    assert {"env_fn", "ac_kwargs", "seed", "logger_kwargs"} <= set(params)
    assert params["options"].kind is inspect.Parameter.VAR_KEYWORD
    assert all(params[name].default is None for name in fields)
    assert "nan_policy" in options.declared()  # every algorithm takes every run option
    doc = inspect.getdoc(info.fn) or ""
    for hp in hyperparameters(info.config):  # the docstring lists each hyperparameter and run option
        assert f"    {hp.name}" in doc and hp.help in " ".join(doc.split())
    for name in options.declared():
        assert f"    {name}: " in doc


def test_a_signature_that_drifts_is_refused_at_import() -> None:
    def ppo_like(env_fn: Any = None, seed: int = 0, gamma: float | None = None, **options: Any) -> None: ...

    with pytest.raises(TypeError, match="config fields without an argument"):
        check_signature(ppo_like, ALGORITHMS["ppo"].config)

    def extra(env_fn: Any = None, lr: float | None = None, **options: Any) -> None: ...

    with pytest.raises(TypeError, match=r"arguments without a config field: \['lr'\]"):
        algorithm(ALGORITHMS["ars"].config)(extra)


@pytest.mark.parametrize("algo", ALGOS)
def test_every_field_is_declared_with_a_help_and_a_valid_default(algo: str) -> None:
    config = ALGORITHMS[algo].config
    for hp in hyperparameters(config):
        assert len(hp.help) >= 8, f"{algo}.{hp.name}: help {hp.help!r}"
        if hp.check is not None:
            hp.check(hp.name, hp.default)  # the default passes its own check
    assert config.algo == algo
    config.resolve("CartPole-v1", {})  # the defaults and the preset make a valid config


def test_a_redeclared_default_keeps_the_base_declaration() -> None:
    @dataclasses.dataclass(frozen=True)
    class Mine(RolloutConfig):
        algo = "mine"
        steps_per_epoch: int = 1000
        passes: int = hyperparameter(3, "passes per batch", positive_int)

    by_name = {hp.name: hp for hp in hyperparameters(Mine)}
    assert by_name["steps_per_epoch"].default == 1000
    assert by_name["steps_per_epoch"].help == next(
        hp.help for hp in hyperparameters(RolloutConfig) if hp.name == "steps_per_epoch"
    )
    with pytest.raises(PgrlError, match="steps_per_epoch must be a positive integer, got 0"):
        Mine(steps_per_epoch=0)
    with pytest.raises(PgrlError, match="passes must be a positive integer, got -1"):
        Mine(passes=-1)

    @dataclasses.dataclass(frozen=True)
    class Undeclared(Config):
        algo = "bad"
        lr: float = 0.1

    with pytest.raises(TypeError, match=r"Undeclared.lr is not declared with pgrl.config.hyperparameter"):
        hyperparameters(Undeclared)


def test_resolution_order_defaults_then_preset_then_given() -> None:
    ppo = ALGORITHMS["ppo"].config
    assert ppo.resolve("Acrobot-v1", {}).gamma == 0.99  # no preset: the default
    assert ppo.resolve("CartPole-v1", {}).gamma == PRESETS["ppo"]["CartPole-v1"]["gamma"] == 0.98
    cfg: Any = ppo.resolve("CartPole-v1", {"gamma": 0.9, "lam": None})
    assert cfg.gamma == 0.9 and cfg.lam == 0.95  # None means "not given"
    # PPO's own rules: a preset's minibatch is capped at a smaller batch; vf_lr selects two optimizers
    small: Any = ppo.resolve("CartPole-v1", {"steps_per_epoch": 64, "num_envs": 2})
    assert small.minibatch_size == 64 and small.train_pi_iters == small.update_epochs == 6
    assert ppo.resolve("CartPole-v1", {"vf_lr": 1e-3}).shared_optimizer is False  # type: ignore[attr-defined]
    with pytest.raises(PgrlError, match="need shared_optimizer=False"):
        ppo.resolve("CartPole-v1", {"vf_lr": 1e-3, "shared_optimizer": True})
    with pytest.raises(PgrlError, match="minibatch_size 600 is larger than the batch of 64"):
        ppo.resolve("CartPole-v1", {"steps_per_epoch": 64, "num_envs": 2, "minibatch_size": 600})


def test_a_number_beyond_float32s_range_is_refused() -> None:
    # found by tests/test_cli_fuzz.py: --clip-ratio 1e308 passed as finite, then torch.clamp could not take it
    ppo = ALGORITHMS["ppo"].config
    with pytest.raises(
        PgrlError, match=r"clip_ratio must be at most 3.4e\+38 in size \(float32's range\), got 1e\+308"
    ):
        ppo.resolve("CartPole-v1", {"clip_ratio": 1e308})
    with pytest.raises(PgrlError, match="ent_coef must be at most"):
        ppo.resolve("CartPole-v1", {"ent_coef": 10**40})
    assert ppo.resolve("CartPole-v1", {"clip_ratio": 1e30}).clip_ratio == 1e30  # type: ignore[attr-defined]


def test_resume_rules_come_from_the_fields(tmp_path: Path) -> None:
    may_change = {hp.name for hp in hyperparameters(ALGORITHMS["ppo"].config) if hp.resume == "may change"}
    assert may_change == {"epochs", "save_freq"}
    ppo = ALGORITHMS["ppo"].config
    saved = ppo.resolve("CartPole-v1", {}).to_json()
    assert ppo.resumed("CartPole-v1", saved, {"epochs": 100, "gamma": 0.98}, "run").epochs == 100
    with pytest.raises(PgrlError, match=r"gamma=0.5 differs .* \(only epochs, save_freq may change\)"):
        ppo.resumed("CartPole-v1", saved, {"gamma": 0.5}, "run")
    # a run saved by an older pgrl may lack newer hyperparameters: the default and preset fill them in
    old = {k: v for k, v in saved.items() if k != "target_kl"}
    assert ppo.resumed("CartPole-v1", old, {}, "run").target_kl is None  # type: ignore[attr-defined]


def _subparser(algo: str) -> argparse.ArgumentParser:
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    algos = next(a for a in train._actions if isinstance(a, argparse._SubParsersAction))
    return algos.choices[algo]  # type: ignore[no-any-return]


@pytest.mark.parametrize("algo", ALGOS)
def test_cli_flags_are_derived_from_the_fields(algo: str) -> None:
    parser = _subparser(algo)
    by_dest = {a.dest: a for a in parser._actions}
    for hp in hyperparameters(ALGORITHMS[algo].config):
        action = by_dest[hp.name]
        assert action.option_strings == ["--" + hp.name.replace("_", "-")] or hp.value_type is bool
        assert hp.help in " ".join((action.help or "").split())
        if hp.value_type is bool:
            assert isinstance(action, argparse.BooleanOptionalAction)
        elif hp.value_type is tuple:
            assert action.nargs == "+" and action.type is int
        elif hp.value_type in (int, float):
            assert action.type is hp.value_type
    options_flags = {"--nan-policy", "--eval-every", "--resume", "--vec", "--tensorboard", "--eval-episodes"}
    assert options_flags <= {s for a in parser._actions for s in a.option_strings}


def test_a_cli_flag_reaches_the_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with redirect_stdout(io.StringIO()):
        code = main(["train", "ars", "--env", "CartPole-v1", "--epochs", "1", "--n-directions", "2", "--top-b", "1",
                     "--no-norm-obs", "--nan-policy", "skip", "--max-ep-len", "20", "--eval-episodes", "0",
                     "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["hyperparameters"]["n_directions"] == 2 and config["hyperparameters"]["norm_obs"] is False
    assert config["hyperparameters"]["num_envs"] == 4  # derived: one env copy per perturbed policy
    assert config["nan_policy"] == "skip"


def test_grid_axes_are_the_fields_and_the_grid_options(tmp_path: Path) -> None:
    varied, network = axes("ppo")
    assert {"gamma", "clip_ratio", "hidden_sizes", "eval_every", "nan_policy"} <= varied
    assert network == {"hidden_sizes", "activation", "encoder", "bias", "log_std_init"}
    assert not varied & {"callback", "resume", "overwrite", "verbose", "env"}
    with pytest.raises(PgrlError, match="takes a hyperparameter 'callback'"):
        Grid(tmp_path, algos=["ppo"], callback=[print])
    with pytest.raises(PgrlError, match="set by the grid itself"):
        Grid(tmp_path, algos=["ppo"], seed=[1])


def test_run_options_are_checked_once_for_every_algorithm() -> None:
    for algo in ALGOS:
        with pytest.raises(TypeError, match=rf"{algo}\(\) got an unexpected keyword argument 'eval_evry'"):
            getattr(pgrl, algo)("CartPole-v1", eval_evry=5)
        with pytest.raises(PgrlError, match="nan_policy must be one of stop, skip"):
            getattr(pgrl, algo)("CartPole-v1", nan_policy="ignore")
    assert {name: opt.default for name, opt in options.declared().items()}["eval_episodes"] == 20
