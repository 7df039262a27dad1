"""Where one PPO epoch's time goes: collection (policy forward, env step, observation normalisation, the rest),
update (gradient steps, the full-batch passes before and after, the rest) and logging, per epoch.

The parts are timed by wrapping pgrl's functions with a clock (a few microseconds per call), in a run of
``pgrl.ppo`` with the env's preset; the first epoch (one-off costs) is left out, and the run is repeated
(``--repeats``) to report the median of each part. The wrapped names are those of pgrl's collector,
agent, optimizer and PPO, so the script also measures an older checkout: put it first on PYTHONPATH.

Usage::

    PYTHONPATH=. python benchmarks/epoch_profile.py --env CartPole-v1 --epochs 20 --repeats 5
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

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
    ("minibatch losses (forward)", "update"),
    ("full-batch passes (before/after)", "update"),
    ("logging (run.log)", None),
]


class Clock:
    """Accumulated seconds per part, per epoch."""

    def __init__(self) -> None:
        self.epoch: dict[str, float] = defaultdict(float)
        self.epochs: list[dict[str, float]] = []
        self.epoch_start = 0.0

    def wrap(self, part: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                name = part(*args, **kwargs) if callable(part) else part
                self.epoch[name] += time.perf_counter() - t

        return timed

    def end_epoch(self) -> None:
        now = time.perf_counter()
        self.epoch["epoch (wall)"] = now - self.epoch_start
        self.epochs.append(dict(self.epoch))
        self.epoch = defaultdict(float)
        self.epoch_start = now


def instrument(clock: Clock) -> None:
    """Wrap pgrl's functions with the clock (module attributes as the callers look them up)."""
    import torch

    import pgrl.algos.ppo as ppo
    import pgrl.rollout as rollout
    from pgrl.agent import Agent
    from pgrl.optim import Optimizer
    from pgrl.training.run import Run

    rollout.Collector.collect = clock.wrap("collection", rollout.Collector.collect)  # type: ignore[method-assign]
    Agent.obs_tensor = clock.wrap("obs normalisation (obs_tensor)", Agent.obs_tensor)  # type: ignore[method-assign]
    Agent.value = clock.wrap("bootstrap values (agent.value)", Agent.value)  # type: ignore[method-assign]
    Optimizer.step = clock.wrap("gradient steps (Optimizer.step)", Optimizer.step)  # type: ignore[method-assign]
    ppo.ppo_update = clock.wrap("update", ppo.ppo_update)
    ppo.make_batch = clock.wrap("gae + make_batch", ppo.make_batch)
    ppo.gae = clock.wrap("gae + make_batch", ppo.gae)

    def batch_part(pi: Any, obs: Any, *args: Any, **kwargs: Any) -> str:
        # the full batch (less a NEXT_STEP env's reset steps) or a minibatch (at most half of it here)
        full = len(obs) > 0.75 * clock.batch_size  # type: ignore[attr-defined]
        return "full-batch passes (before/after)" if full else "minibatch losses (forward)"

    def v_part(obs: Any) -> str:  # the critic also runs in ac.step and agent.value: counted there
        return "critic in collection" if torch.is_inference_mode_enabled() else batch_part(None, obs)

    ppo.log_prob_entropy = clock.wrap(batch_part, ppo.log_prob_entropy)

    init = rollout.Collector.__init__

    def collector_init(self: Any, envs: Any, agent: Any, *args: Any, **kwargs: Any) -> None:
        init(self, envs, agent, *args, **kwargs)
        clock.batch_size = self.T * self.N  # type: ignore[attr-defined]
        envs.step = clock.wrap("env step", envs.step)
        ac = agent.ac
        ac.step = clock.wrap("policy forward (ac.step)", ac.step)
        v_forward = ac.v.forward
        ac.v.forward = clock.wrap(v_part, v_forward)

    rollout.Collector.__init__ = collector_init  # type: ignore[method-assign]
    log = Run.log

    def timed_log(self: Any, *args: Any, **kwargs: Any) -> None:
        t = time.perf_counter()
        log(self, *args, **kwargs)
        clock.epoch["logging (run.log)"] += time.perf_counter() - t
        clock.end_epoch()

    Run.log = timed_log  # type: ignore[method-assign]


def profile(env_id: str, epochs: int, clock: Clock) -> list[dict[str, float]]:
    """The parts of each epoch after the first of one run."""
    import pgrl

    clock.epochs = []
    with tempfile.TemporaryDirectory() as out:
        clock.epoch_start = time.perf_counter()
        clock.epoch = defaultdict(float)
        pgrl.ppo(env_fn=env_id, seed=0, epochs=epochs, eval_episodes=0, verbose=False,
                 logger_kwargs=dict(output_dir=out), overwrite=True)  # fmt: skip
    return clock.epochs[1:]


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    clock = Clock()
    instrument(clock)
    runs = [profile(args.env, args.epochs, clock) for _ in range(args.repeats)]
    # the median over runs of each run's mean per epoch
    names = [name for name, _ in PARTS] + ["epoch (wall)"]
    medians = {
        name: statistics.median(statistics.mean(e.get(name, 0.0) for e in run) for run in runs) for name in names
    }
    parent = dict(PARTS)
    for name in names:
        indent = "  " if parent.get(name) else ""
        print(f"{indent}{name:<{40 - len(indent)}} {1000 * medians[name]:8.2f} ms")
    return medians


if __name__ == "__main__":
    main()
