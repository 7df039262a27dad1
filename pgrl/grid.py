"""Experiment grids: every combination of algorithms, envs, seeds and hyperparameter values, run in
parallel (a local process pool, or a Ray cluster), each in its own directory.

After Spinning Up's ExperimentGrid: a variant's name is made from the values that vary, e.g.
``ppo-CartPole-v1_lam0.95``, and its seeds run in ``OUT/<variant>/s<seed>``::

    from pgrl.grid import Grid
    summary = Grid("runs/grid1", algos=["ppo", "vpg"], envs=["CartPole-v1"], seeds=[0, 1, 2],
                   lam=[0.9, 0.95], pi_lr=[1e-3]).run(workers=2)
    print(summary.table())

A failing run is reported in the summary and does not stop the others. Running the grid again skips
the finished runs (eval.json present, or a checkpoint at the last epoch) and resumes the interrupted
ones from their checkpoint. The summary (:class:`GridSummary`) gives each variant's final return over
its seeds (:func:`pgrl.analysis.summarize_group`); :meth:`GridSummary.plot` draws the learning curves
(:func:`pgrl.plot.plot`). See docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import multiprocessing
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pgrl import options
from pgrl.algos.registry import ALGORITHMS
from pgrl.analysis import load_run, score_column, summarize_group
from pgrl.checkpoint import load_checkpoint, load_config
from pgrl.config import hyperparameters
from pgrl.envs.named import name_env, options_config
from pgrl.envs.vector import resolve_vectorization
from pgrl.errors import PgrlError
from pgrl.logger import atomic_write_text
from pgrl.networks import json_ac_kwargs
from pgrl.plot import check_format
from pgrl.plot import plot as plot_runs
from pgrl.rundir import CHECKPOINT, CONFIG, EVAL, PROGRESS

BACKENDS = ("local", "ray")


# ------------------------------------------------------------------------------------------ values


def parse_value(text: str) -> Any:
    """A literal from the command line, without eval: true/false, none, int, float, a [a, b, ...]
    list of those (as a tuple, e.g. hidden sizes), else the string itself."""
    t = text.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1].strip()
        return tuple(parse_value(p) for p in split_values(inner)) if inner else ()
    for kind in (int, float):
        try:
            return kind(t)
        except ValueError:
            pass
    return t


def split_values(text: str) -> list[str]:
    """Split on the commas outside brackets: ``"[64,64],[32]"`` -> ``["[64,64]", "[32]"]``."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_setting(spec: str) -> tuple[str, list[Any]]:
    """``"lam=0.9,0.95"`` -> ``("lam", [0.9, 0.95])``."""
    name, sep, values = spec.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name.isidentifier() or not values.strip():
        raise PgrlError(f"--set takes NAME=VALUE[,VALUE...], e.g. lam=0.9,0.95; got {spec!r}")
    return name, [parse_value(v) for v in split_values(values)]


def value_label(value: Any) -> str:
    """A value as it appears in a run name: 0.001, True, 64x64."""
    if isinstance(value, tuple | list):
        return "x".join(value_label(v) for v in value) or "linear"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("/", "-")


# ------------------------------------------------------------------------------------------ variants


@dataclass(frozen=True)
class Variant:
    """One run of the grid: an algorithm on an env with a seed and hyperparameters."""

    name: str  # the variant's name (shared by its seeds), e.g. ppo-CartPole-v1_lam0.95
    algo: str
    env: str
    seed: int
    hyperparameters: dict[str, Any]
    run_dir: str

    @property
    def label(self) -> str:
        return f"{self.name}/s{self.seed}"


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: list(v) if isinstance(v, tuple | list) else v  # noqa: E731
    return bool(norm(a) == norm(b))


def baseline(algo: str, env: str) -> dict[str, Any]:
    """The values a variant is resolved from: the algorithm's defaults and the env's preset, and the
    grid-able run options' defaults."""
    cfg = ALGORITHMS[algo].config.resolve(env, {})
    values = {hp.name: getattr(cfg, hp.name) for hp in hyperparameters(type(cfg))}
    values.update({name: opt.default for name, opt in options.declared().items() if opt.grid})
    return values


def expected_config(v: Variant, env_options: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What the variant's run writes to config.json, as ``{"hyperparameters.lam": 0.9, "ac_kwargs.activation":
    "relu", "eval_every": None, ...}`` (``env_options``: the grid's env_kwargs and wrappers); None when the
    algorithm refuses the values (the run says why)."""
    info = ALGORITHMS[v.algo]
    varied, network = axes(v.algo)
    run_options = set(varied) - {hp.name for hp in hyperparameters(info.config)}
    given = {k: x for k, x in v.hyperparameters.items() if k not in network and k not in run_options}
    try:
        cfg = info.config.resolve(v.env, given)
        ac_kwargs = json_ac_kwargs(cfg.network_kwargs({k: x for k, x in v.hyperparameters.items() if k in network}))
    except PgrlError:
        return None
    options = env_options or {}
    record = options_config(options.get("env_kwargs"), options.get("wrappers")) or {"env_kwargs": {}, "wrappers": []}
    out: dict[str, Any] = {"env_id": v.env, "seed": v.seed, **{k: record[k] for k in ("env_kwargs", "wrappers")}}
    out.update({f"hyperparameters.{k}": x for k, x in cfg.to_json().items()})
    out.update({f"ac_kwargs.{k}": x for k, x in ac_kwargs.items()})
    defaults = baseline(v.algo, v.env)
    for name in sorted(run_options & {"eval_every", "nan_policy", "vectorization"}):  # those config.json records
        out[name] = v.hyperparameters.get(name, defaults[name])
    if "vectorization" in out:  # config.json records what "auto" became
        env = name_env(v.env, options.get("env_kwargs"), options.get("wrappers"))
        try:
            out["vectorization"] = resolve_vectorization(
                env, out["vectorization"], info.config.per_copy_seeds, cfg.envs_per_process(1, 0)
            )
        except PgrlError:
            return None
    return out


def differences(v: Variant, env_options: Mapping[str, Any] | None = None) -> list[str]:
    """How the run already in the variant's directory differs from the variant: ``["lam=0.95 (the grid
    asks 0.9)", ...]``; empty when it matches (or holds no run, or the values are refused)."""
    expected = expected_config(v, env_options)
    config_file = Path(v.run_dir) / CONFIG
    if expected is None or not config_file.exists():
        return []
    try:
        saved = load_config(v.run_dir)
    except PgrlError:
        return []  # unreadable: the run restarts it
    found = {}
    for key in expected:
        section, _, name = key.rpartition(".")
        holder = saved.get(section, {}) if section else saved
        found[key] = holder.get(name, "<missing>") if isinstance(holder, dict) else "<missing>"
    return [
        f"{key.rpartition('.')[2]}={found[key]!r} (the grid asks {value!r})"
        for key, value in expected.items()
        if not _same(found[key], value)
    ]


def axes(algo: str) -> tuple[set[str], set[str]]:
    """What a grid may vary for an algorithm: (its hyperparameters, of which the network's go to
    ac_kwargs), plus the run options declared ``grid=True`` (e.g. eval_every, nan_policy)."""
    fields = hyperparameters(ALGORITHMS[algo].config)
    varied = {hp.name for hp in fields} | {name for name, opt in options.declared().items() if opt.grid}
    return varied, {hp.name for hp in fields if hp.network}


class Grid:
    """A grid of runs: every combination of ``algos`` x ``envs`` x hyperparameter values x ``seeds``.

    Args:
        out: the grid's directory; run ``name/s<seed>`` goes to ``out/name/s<seed>``.
        algos, envs, seeds: what to combine (a single value may be given bare).
        eval_episodes: deterministic episodes of each run's final evaluation (eval.json).
        env_kwargs, wrappers: how every run makes its env (the run options of the same names); recorded in
            each run's config.json, so an interrupted run resumes on the same env.
        **hyperparameters: each a list of values (a bare value: one value), passed to the algorithm
            (``hidden_sizes`` and ``activation`` go to the network). A hyperparameter an algorithm does
            not take is left out of that algorithm's runs; one that no algorithm takes is refused.
            A variant's name carries every value that differs from the defaults and the env's preset.
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        algos: str | Sequence[str] = "ppo",
        envs: str | Sequence[str] = "CartPole-v1",
        seeds: int | Sequence[int] = (0,),
        eval_episodes: int = 20,
        env_kwargs: Mapping[str, Any] | None = None,
        wrappers: Sequence[Any] | None = None,
        **hyperparameters: Any,
    ) -> None:
        self.out = Path(out)
        self.env_options: dict[str, Any] = {"env_kwargs": dict(env_kwargs) if env_kwargs else None,
                            "wrappers": list(wrappers) if wrappers else None}  # fmt: skip
        for env in [envs] if isinstance(envs, str) else list(envs):  # a bad env option fails before any run
            name_env(env, self.env_options["env_kwargs"], self.env_options["wrappers"])
        self.algos = [algos] if isinstance(algos, str) else list(algos)
        self.envs = [envs] if isinstance(envs, str) else list(envs)
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.eval_episodes = eval_episodes
        self.hyperparameters: dict[str, list[Any]] = {
            k: list(v) if isinstance(v, list) else [v] for k, v in hyperparameters.items()
        }
        for what, values in (("algos", self.algos), ("envs", self.envs), ("seeds", self.seeds)):
            if not values:
                raise PgrlError(f"the grid needs at least one of {what}")
        unknown = [a for a in self.algos if a not in ALGORITHMS]
        if unknown:
            raise PgrlError(f"unknown algorithm(s) {', '.join(unknown)}; known: {', '.join(ALGORITHMS)}")
        bad_seeds = [s for s in self.seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
        if bad_seeds:
            raise PgrlError(f"seeds must be integers >= 0, got {bad_seeds}")
        for name, values in self.hyperparameters.items():
            if not values:
                raise PgrlError(f"hyperparameter {name} has no values")
            if name in ("seed", "env"):
                raise PgrlError(
                    f"{name} is set by the grid itself (--seeds, --env); it cannot be a grid hyperparameter"
                )
            if not any(name in axes(a)[0] for a in self.algos):
                raise PgrlError(f"no algorithm of the grid ({', '.join(self.algos)}) takes a hyperparameter {name!r}")

    def variants(self) -> list[Variant]:
        """Every run, in order: algorithm, env, hyperparameter values, seed. A variant is named by every
        value that differs from what it is resolved from (the defaults and the env's preset), so two
        grids that ask for different values never share a directory."""
        seen: set[str] = set()
        out: list[Variant] = []
        for algo in self.algos:
            accepted = axes(algo)[0]
            names = [k for k in self.hyperparameters if k in accepted]
            for env in self.envs:
                defaults = baseline(algo, env)
                for values in itertools.product(*(self.hyperparameters[k] for k in names)):
                    hp = dict(zip(names, values, strict=True))
                    name = f"{algo}-{value_label(env)}" + "".join(
                        f"_{k}{value_label(v)}" for k, v in hp.items() if not _same(v, defaults.get(k))
                    )
                    for seed in self.seeds:
                        label = f"{name}/s{seed}"
                        if label in seen:
                            continue
                        seen.add(label)
                        out.append(Variant(name, algo, env, seed, hp, str(self.out / name / f"s{seed}")))
        return out

    def run(
        self,
        workers: int | None = None,
        backend: str = "local",
        ray_address: str | None = None,
        plot: str | os.PathLike[str] | None = None,
        verbose: bool = True,
        fresh: bool = False,
        together: bool = True,
    ) -> GridSummary:
        """Run the grid (skipping finished runs, resuming interrupted ones) and return its summary.

        A run directory is reused only when its config.json holds exactly the variant's values; when one
        differs the grid refuses before running anything, naming the values, unless ``fresh`` (``--fresh``)
        replaces such runs with new ones.

        Args:
            workers: runs at once on the local pool (default: the number of CPUs, at most the runs).
            backend: "local" (a process pool, spawn context, one torch thread per run) or "ray".
            ray_address: the Ray cluster to join (default: the one ``ray.init`` already joined, else a
                new local one); implies backend="ray".
            plot: also draw the learning curves of every finished run to this .png/.svg/.pdf.
            verbose: print one line per finished run.
            fresh: replace the runs whose config.json differs from their variant.
            together: a variant's new runs train their seeds together in one process (:mod:`pgrl.seeds`),
                in up to ``workers`` groups of seeds; False: one process per run.
        """
        if ray_address is not None:
            backend = "ray"
        if backend not in BACKENDS:
            raise PgrlError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if plot is not None:
            check_format(plot)
        variants = self.variants()
        stale = {v.label: d for v in variants if (d := differences(v, self.env_options))}
        if stale and not fresh:
            label, diff = next(iter(stale.items()))
            more = f"; {len(stale) - 1} more runs differ" if len(stale) > 1 else ""
            raise PgrlError(
                f"{str(self.out / label)!r} holds a run with {', '.join(diff)}{more}; replace them with fresh=True "
                "(--fresh) or choose another output directory"
            )
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PgrlError(f"cannot make the grid's directory {str(self.out)!r}: {e.strerror or e}") from e
        specs = [
            {**_spec(v, self.eval_episodes, fresh=v.label in stale), "env_options": self.env_options} for v in variants
        ]
        start = time.perf_counter()
        if backend == "ray":
            results = _run_ray(seed_groups(specs, 1) if together else specs, ray_address, verbose)
        else:
            if workers is not None and workers < 1:
                raise PgrlError(f"workers must be >= 1, got {workers}")
            n = workers or min(len(specs), os.cpu_count() or 1)
            results = _run_local(seed_groups(specs, n) if together else specs, n, verbose)
        summary = summarize(variants, results, time.perf_counter() - start)
        summary.save(self.out / "grid.json")
        if plot is not None:
            summary.plot(plot)
        return summary


# ----------------------------------------------------------------------------------------- one run


def _spec(v: Variant, eval_episodes: int, fresh: bool = False) -> dict[str, Any]:
    return {
        "fresh": fresh,
        "name": v.name,
        "label": v.label,
        "algo": v.algo,
        "env": v.env,
        "seed": v.seed,
        "hyperparameters": v.hyperparameters,
        "run_dir": v.run_dir,
        "eval_episodes": eval_episodes,
    }


def run_state(run_dir: Path) -> tuple[str, int | None]:
    """("finished" | "interrupted" | "broken" | "new", the checkpoint's epoch) of a run directory."""
    if (run_dir / EVAL).exists():
        return "finished", None
    if (run_dir / CHECKPOINT).exists():
        try:
            epoch = int(load_checkpoint(run_dir)["epoch"])
            epochs = int(load_config(run_dir)["hyperparameters"]["epochs"])
        except (PgrlError, KeyError, TypeError, ValueError):
            return "broken", None
        return ("finished" if epoch >= epochs else "interrupted"), epoch
    if (run_dir / PROGRESS).exists() or (run_dir / CONFIG).exists():
        return "broken", None  # died before its first checkpoint: start again
    return "new", None


def seed_groups(specs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """The tasks of a grid: each variant's new runs of a gradient algorithm as groups of seeds trained
    together (split into as many groups as the workers left per variant, at least one), other runs alone."""
    new: dict[str, list[dict[str, Any]]] = {}
    tasks = []
    for spec in specs:
        if spec["algo"] != "ars" and not spec.get("fresh") and run_state(Path(spec["run_dir"]))[0] == "new":
            new.setdefault(spec["name"], []).append(spec)
        else:
            tasks.append(spec)
    per_variant = max(1, workers // max(1, len(new)))
    for members in new.values():
        chunks = min(per_variant, len(members))
        size = -(-len(members) // chunks)
        for i in range(0, len(members), size):
            part = members[i : i + size]
            tasks.append(part[0] if len(part) == 1 else {"label": f"{part[0]['name']} seeds", "group": part})
    return tasks


def run_task(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A grid task's results: one run's, or a group of seeds' (never raises)."""
    return run_group(spec["group"]) if "group" in spec else [run_variant(spec)]


def run_group(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train new runs of one variant with different seeds together in one process (:mod:`pgrl.seeds`); their
    run directories are the grid's ``<variant>/s<seed>``. Never raises: a failure is every member's."""
    torch.set_num_threads(1)
    first = members[0]
    start, status, error, bad_input = time.perf_counter(), "done (seeds together)", None, False
    try:
        hp = dict(first["hyperparameters"])
        ac_kwargs = {k: hp.pop(k) for k in axes(first["algo"])[1] if k in hp}
        ALGORITHMS[first["algo"]].fn(
            env_fn=first["env"], seed=[m["seed"] for m in members], ac_kwargs=ac_kwargs or None,
            eval_episodes=first["eval_episodes"], verbose=False,
            logger_kwargs={"output_dir": str(Path(first["run_dir"]).parent), "exp_name": first["name"]},
            **hp, **{k: v for k, v in (first.get("env_options") or {}).items() if v},
        )  # fmt: skip
    except Exception as e:  # one failing group does not stop the grid
        status, error, bad_input = "failed", f"{type(e).__name__}: {' '.join(str(e).split())}", isinstance(e, PgrlError)
    results = []
    for m in members:
        result = {"label": m["label"], "run_dir": m["run_dir"], "status": status, "error": error,
                  "seconds": time.perf_counter() - start}  # fmt: skip
        if error is not None:
            result["bad_input"] = bad_input
        eval_file = Path(m["run_dir"]) / EVAL
        if error is None and eval_file.exists():
            result["eval_return"] = float(json.loads(eval_file.read_text())["mean_return"])
        results.append(result)
    return results


def run_variant(spec: dict[str, Any]) -> dict[str, Any]:
    """Train one run of a grid (in a worker process); never raises: failures come back as results."""
    torch.set_num_threads(1)
    run_dir = Path(spec["run_dir"])
    result: dict[str, Any] = {"label": spec["label"], "run_dir": str(run_dir), "error": None, "seconds": 0.0}
    start = time.perf_counter()
    try:
        state, epoch = run_state(run_dir) if not spec.get("fresh") else ("stale", None)
        if state == "finished":
            result["status"] = "skipped"
        else:
            hp = dict(spec["hyperparameters"])
            ac_kwargs = {k: hp.pop(k) for k in axes(spec["algo"])[1] if k in hp}
            kwargs: dict[str, Any] = {
                "env_fn": spec["env"],
                "seed": spec["seed"],
                "ac_kwargs": ac_kwargs or None,
                "eval_episodes": spec["eval_episodes"],
                "verbose": False,
                **hp,
            }
            if state == "interrupted":
                kwargs["resume"] = str(run_dir)
                kwargs["logger_kwargs"] = {"exp_name": spec["name"]}
                result["status"] = f"resumed from epoch {epoch}"
            else:
                kwargs["logger_kwargs"] = {"output_dir": str(run_dir), "exp_name": spec["name"]}
                kwargs["overwrite"] = state in ("broken", "stale")
                kwargs.update({k: v for k, v in (spec.get("env_options") or {}).items() if v})
                result["status"] = "replaced" if state == "stale" else "done"
            ALGORITHMS[spec["algo"]].fn(**kwargs)
    except Exception as e:  # one failing run does not stop the grid
        result["status"] = "failed"
        result["error"] = f"{type(e).__name__}: {' '.join(str(e).split())}"
        result["bad_input"] = isinstance(e, PgrlError)
    result["seconds"] = time.perf_counter() - start
    eval_file = run_dir / EVAL
    if result["status"] != "failed" and eval_file.exists():
        result["eval_return"] = float(json.loads(eval_file.read_text())["mean_return"])
    return result


def _report(result: dict[str, Any], done: int, total: int) -> None:
    what = result["status"] if result["status"] != "failed" else f"FAILED ({result['error']})"
    ret = f", return {result['eval_return']:.1f}" if "eval_return" in result else ""
    print(f"[{done}/{total}] {result['label']}: {what}{ret} ({result['seconds']:.1f} s)", flush=True)


def _run_local(specs: list[dict[str, Any]], workers: int, verbose: bool) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    total = sum(len(spec.get("group", [spec])) for spec in specs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_task, spec): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                done = future.result()
            except Exception as e:  # the worker process itself died (e.g. killed for memory)
                done = [_worker_died(s, e) for s in spec.get("group", [spec])]
            for result in done:
                results[result["label"]] = result
                if verbose:
                    _report(result, len(results), total)
    return results


def _worker_died(spec: dict[str, Any], e: Exception) -> dict[str, Any]:
    """The result of a variant whose worker died before it could report (as run_variant's failures read)."""
    return {"label": spec["label"], "run_dir": spec["run_dir"], "status": "failed", "seconds": 0.0,
            "error": f"{type(e).__name__}: {' '.join(str(e).split())}"}  # fmt: skip


def _run_ray(specs: list[dict[str, Any]], address: str | None, verbose: bool) -> dict[str, dict[str, Any]]:
    try:
        import ray
    except ImportError as e:
        raise PgrlError('the Ray backend needs ray: pip install "pgrl[ray]"') from e
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None:  # a local cluster on the loopback interface
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1")
        else:
            ray.init(address=address)
    remote = ray.remote(num_cpus=1)(run_task)
    pending = {remote.remote(spec): spec for spec in specs}
    results: dict[str, dict[str, Any]] = {}
    total = sum(len(spec.get("group", [spec])) for spec in specs)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            spec = pending.pop(ref)
            try:
                done = ray.get(ref)
            except Exception as e:  # the worker died
                done = [_worker_died(s, e) for s in spec.get("group", [spec])]
            for result in done:
                results[result["label"]] = result
                if verbose:
                    _report(result, len(results), total)
    return results


# ----------------------------------------------------------------------------------------- summary


@dataclass
class GridSummary:
    """What a grid run gives back: one row per variant (seeds aggregated) and the failed runs."""

    rows: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    column: str = "AverageEpRet"

    @property
    def ok(self) -> bool:
        return not self.failures

    def table(self, failures: bool = True) -> str:
        """The rows as a text table: final training return (mean of the last 10% of epochs, mean +/- std
        over seeds), and the final deterministic evaluation (eval.json) averaged over seeds."""
        header = ["variant", "runs", f"final {self.column}", "eval return"]
        lines = [
            [
                r["variant"],
                f"{r['runs']}/{r['seeds']}",
                f"{_f(r['mean'])} +/- {_f(r['std'])}",
                _f(r["eval_return"]),
            ]
            for r in self.rows
        ]
        widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        out = [fmt.format(*x).rstrip() for x in [header, *lines]]
        if failures and self.failures:
            out.append(failure_line(self.failures, len(self.results)))
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "rows": self.rows, "failures": self.failures, "results": self.results}

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.as_dict(), indent=2, default=str) + "\n")

    def plot(self, out: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Learning curves of the variants (mean over seeds with a bootstrap band), via :func:`pgrl.plot.plot`."""
        dirs = [r["run_dir"] for r in self.results if r["status"] != "failed" and Path(r["run_dir"], PROGRESS).exists()]
        if not dirs:
            raise PgrlError("no finished run to plot")
        return plot_runs(dirs, out, **kwargs)


def _f(v: float) -> str:
    return "nan" if v is None or math.isnan(v) else f"{v:.2f}"


def failure_line(failures: Sequence[Mapping[str, Any]], total: int) -> str:
    """One line: how many runs failed, and each one's label and error."""
    return f"{len(failures)} of {total} runs failed: " + "; ".join(f"{f['label']} ({f['error']})" for f in failures)


def summarize(variants: Iterable[Variant], results: Mapping[str, dict[str, Any]], seconds: float = 0.0) -> GridSummary:
    """Group the finished runs by variant and score them with :mod:`pgrl.analysis`."""
    by_name: dict[str, list[Variant]] = {}
    for v in variants:
        by_name.setdefault(v.name, []).append(v)
    ordered = [results[v.label] for vs in by_name.values() for v in vs if v.label in results]
    failures = [{"label": r["label"], "error": r["error"]} for r in ordered if r["status"] == "failed"]
    groups: dict[str, list[Any]] = {}
    for name, vs in by_name.items():
        ok = [v for v in vs if v.label in results and results[v.label]["status"] != "failed"]
        runs = []
        for v in ok:
            with contextlib.suppress(PgrlError):  # a run that logged no epoch
                runs.append(load_run(v.run_dir))
        groups[name] = runs
    column = score_column([g for g in groups.values() if g]) if any(groups.values()) else "AverageEpRet"
    rows = []
    for name, runs in groups.items():
        if not runs:
            continue
        s = summarize_group(name, runs, column)
        evals = [
            float(results[v.label]["eval_return"]) for v in by_name[name] if "eval_return" in results.get(v.label, {})
        ]
        first = by_name[name][0]
        rows.append(
            {
                "variant": name,
                "algo": first.algo,
                "env": first.env,
                "hyperparameters": first.hyperparameters,
                "runs": len(runs),
                "seeds": len(by_name[name]),
                "scores": [float(x) for x in s.scores],
                "mean": s.mean,
                "std": s.std,
                "iqm": s.iqm,
                "eval_return": float(sum(evals) / len(evals)) if evals else math.nan,
            }
        )
    return GridSummary(rows, failures, ordered, seconds, column)
