"""Where one PPO epoch's time goes: collection (policy forward, env step, observation normalisation, the rest),
update (gradient steps, the full-batch passes before and after, the rest) and logging, per epoch.

The parts are timed by wrapping pgrl's functions with a clock (a few microseconds per call), in a run of
``pgrl.ppo`` with the env's preset; the first epoch (one-off costs) is left out, and the run is repeated
(``--repeats``) to report the median of each part. The clock is the process's CPU time by default
(``--clock cpu``): on a machine shared with other jobs it leaves out the time the process waits for a core,
which wall-clock time (``--clock wall``) counts wherever it falls. The wrapped names are those of pgrl's collector,
agent, optimizer and PPO, so the script also measures an older checkout: put it first on PYTHONPATH.

Usage::

    PYTHONPATH=. python benchmarks/epoch_profile.py --env CartPole-v1 --epochs 20 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

# Run as a script, this file's folder is first on sys.path, where benchmarks/mujoco.py shadows the mujoco package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

# (part, parent) in the order of the table; a part's time includes its children's
PARTS = [
    ("collection", None),
    ("policy forward (ac.step)", "collection"),
    ("env step", "collection"),
    ("obs normalisation (obs_tensor)", "collection"),
    ("bootstrap values (agent.value)", "collection"),
    ("gae + make_batch", None),
    ("update", None),
    ("gradient steps (Optimizer.step)", "update"),
    ("minibatch forward (actor, critic)", "update"),
    ("minibatch loss terms", "update"),
    ("minibatch indexing", "update"),
    ("full-batch passes (before/after)", "update"),
    ("logging (run.log)", None),
]


class Clock:
    """Accumulated seconds per part, per epoch."""

    def __init__(self, now: Callable[[], float] = time.process_time) -> None:
        self.now = now
        self.epoch: dict[str, float] = defaultdict(float)
        self.epochs: list[dict[str, float]] = []
        self.epoch_start = 0.0
        self.batch_size = 0  # T * N of the run's collector

    def wrap(self, part: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = self.now()
            try:
                return fn(*args, **kwargs)
            finally:
                name = part(*args, **kwargs) if callable(part) else part
                self.epoch[name] += self.now() - t

        return timed

    def end_epoch(self) -> None:
        now = self.now()
        self.epoch["epoch"] = now - self.epoch_start
        self.epochs.append(dict(self.epoch))
        self.epoch = defaultdict(float)
        self.epoch_start = now


@contextlib.contextmanager
def instrument(clock: Clock) -> Iterator[None]:
    """pgrl's functions wrapped with the clock (module attributes as the callers look them up), restored after."""
    import torch

    import pgrl.algos.ppo as ppo
    import pgrl.rollout as rollout
    from pgrl.agent import Agent
    from pgrl.optim import Optimizer
    from pgrl.training.run import Run

    def batch_part(pi: Any, obs: Any, *args: Any, **kwargs: Any) -> str:
        # the full batch (less a NEXT_STEP env's reset steps) or a minibatch (at most half of it here)
        full = len(obs) > 0.75 * clock.batch_size
        return "full-batch passes (before/after)" if full else "minibatch forward (actor, critic)"

    def loss_part(x: Any, *args: Any, **kwargs: Any) -> str:
        full = len(x) > 0.75 * clock.batch_size
        return "full-batch passes (before/after)" if full else "minibatch loss terms"

    def v_part(obs: Any) -> str:  # the critic also runs in ac.step and agent.value: counted there
        return "critic in collection" if torch.is_inference_mode_enabled() else batch_part(None, obs)

    def timed_minibatches(*args: Any, **kwargs: Any) -> Any:
        batches = minibatches(*args, **kwargs)
        while True:
            t = clock.now()
            try:
                mb = next(batches)
            except StopIteration:
                return
            finally:
                clock.epoch["minibatch indexing"] += clock.now() - t
            yield mb

    def collector_init(self: Any, envs: Any, agent: Any, *args: Any, **kwargs: Any) -> None:
        init(self, envs, agent, *args, **kwargs)
        clock.batch_size = self.T * self.N
        envs.step = clock.wrap("env step", envs.step)  # the run's own envs and network: no restoring
        forward = "policy forward (ac.step)"
        numpy_step = getattr(agent.ac, "numpy_step", None)  # pgrl's MLPs: the collector's numpy step
        if numpy_step is not None and numpy_step(self.N) is not None:
            agent.ac.numpy_step = lambda batch: clock.wrap(forward, numpy_step(batch))
        else:  # (wrapping ac.step itself would turn the numpy step off)
            agent.ac.step = clock.wrap(forward, agent.ac.step)
        agent.ac.v.forward = clock.wrap(v_part, agent.ac.v.forward)

    def timed_log(self: Any, *args: Any, **kwargs: Any) -> None:
        t = clock.now()
        log(self, *args, **kwargs)
        clock.epoch["logging (run.log)"] += clock.now() - t
        clock.end_epoch()

    minibatches, init, log = ppo.minibatches, rollout.Collector.__init__, Run.log
    wrapped = [
        (rollout.Collector, "collect", "collection"),
        (Agent, "obs_tensor", "obs normalisation (obs_tensor)"),
        (Agent, "value", "bootstrap values (agent.value)"),
        (Optimizer, "step", "gradient steps (Optimizer.step)"),
        (ppo, "ppo_update", "update"),
        (ppo, "make_batch", "gae + make_batch"),
        (ppo, "gae", "gae + make_batch"),
        (ppo, "log_prob_entropy", batch_part),
        (ppo, "ppo_clip_loss", loss_part),
        (ppo, "value_loss", loss_part),
        (ppo, "clipped_value_loss", loss_part),
        (ppo.distributed, "standardize", loss_part),
    ]
    with contextlib.ExitStack() as stack:
        for owner, name, part in wrapped:
            stack.enter_context(mock.patch.object(owner, name, clock.wrap(part, getattr(owner, name))))
        stack.enter_context(mock.patch.object(ppo, "minibatches", timed_minibatches))
        stack.enter_context(mock.patch.object(rollout.Collector, "__init__", collector_init))
        stack.enter_context(mock.patch.object(Run, "log", timed_log))
        yield


def profile(env_id: str, epochs: int, clock: Clock, overrides: dict[str, Any]) -> list[dict[str, float]]:
    """The parts of each epoch after the first of one run (the preset with ``overrides`` on top)."""
    import pgrl

    clock.epochs = []
    with tempfile.TemporaryDirectory() as out:
        clock.epoch_start = clock.now()
        clock.epoch = defaultdict(float)
        pgrl.ppo(env_fn=env_id, seed=0, epochs=epochs, eval_episodes=0, verbose=False,
                 logger_kwargs=dict(output_dir=out), overwrite=True, **overrides)  # fmt: skip
    return clock.epochs[1:]


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="the process's CPU time or wall clock")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameters over the preset, VALUE a JSON literal (e.g. minibatch_size=256)",
    )
    args = p.parse_args(argv)
    overrides = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.set)}

    clock = Clock(time.process_time if args.clock == "cpu" else time.perf_counter)
    with instrument(clock):
        runs = [profile(args.env, args.epochs, clock, overrides) for _ in range(args.repeats)]
    # the median over runs of each run's mean per epoch
    names = [name for name, _ in PARTS] + ["epoch"]
    medians = {
        name: statistics.median(statistics.mean(e.get(name, 0.0) for e in run) for run in runs) for name in names
    }
    for line in table(medians):
        print(line)
    # env steps per second of the clock's time: CPU time on a shared machine compares checkouts more steadily
    # than throughput.py's wall-clock steps/s
    medians["steps/s"] = clock.batch_size / medians["epoch"]
    print(f"{'steps/s (' + args.clock + ' time)':<40} {medians['steps/s']:8,.0f}")
    return medians


def table(ms: dict[str, float]) -> list[str]:
    """The parts as lines, each parent followed by its children and the rest of it (bookkeeping)."""
    parent = dict(PARTS)
    lines: list[str] = []
    top = [name for name, up in PARTS if up is None]
    for name in top:
        lines.append(f"{name:<40} {1000 * ms[name]:8.2f} ms")
        children = [child for child, up in PARTS if up == name]
        for child in children:
            lines.append(f"  {child:<38} {1000 * ms[child]:8.2f} ms")
        if children:
            rest = ms[name] - sum(ms[child] for child in children)
            lines.append(f"  {'the rest (bookkeeping)':<38} {1000 * rest:8.2f} ms")
    assert all(parent.get(name) in (None, *top) for name in parent)
    lines.append(f"{'the rest of the epoch':<40} {1000 * (ms['epoch'] - sum(ms[n] for n in top)):8.2f} ms")
    lines.append(f"{'epoch':<40} {1000 * ms['epoch']:8.2f} ms")
    return lines


if __name__ == "__main__":
    main()
