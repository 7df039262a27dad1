"""Many seeds: K seeds of pgrl PPO in one process (``pgrl train ppo --seeds ...``) beside one seed, K sequential
single-seed runs, and PureJaxRL's K agents under ``jax.vmap`` (when the peer is configured), in one invocation.

Every pgrl row is a fresh ``pgrl train ppo`` process, timed from start to exit (its import, env building,
training, evaluations and checkpoints included): what a user waits for. Each trained agent is scored by
pgrl's final deterministic evaluation (20 episodes, eval.json; PureJaxRL's agents by ``pgrl.evaluate`` too,
see benchmarks/purejaxrl.py); "solved" is its mean >= the env's threshold (CartPole-v1: 475).

Two budgets (``--budget``):

- ``until-solved`` (default): each seed stops at the first in-training evaluation that reaches the threshold
  (``--until-solved``, the README's job); the group ends with its slowest seed.
- ``preset``: every seed trains the preset's full budget (``--epochs`` overrides it); aggregate steps/s =
  all seeds' env steps / the training seconds of the slowest.

Usage::

    python benchmarks/seeds.py --env CartPole-v1 --seeds 10
    python benchmarks/seeds.py --env CartPole-v1 --seeds 10 --budget preset
    python benchmarks/seeds.py --env LunarLander-v3 --seeds 5 --budget preset --epochs 4 --no-peers
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


@dataclass
class Row:
    system: str
    agents: int
    wall_s: float  # the whole invocation(s), start to exit
    train_s: float  # the slowest agent's training seconds (pgrl: eval.json's train_seconds)
    steps: list[int]  # env steps per agent
    solved: int
    note: str = ""

    @property
    def steps_per_s(self) -> float:
        return sum(self.steps) / self.train_s if self.train_s > 0 else float("nan")


def purejaxrl() -> ModuleType:
    """benchmarks/purejaxrl.py, loaded by its path (``import purejaxrl`` could find PureJaxRL's own package)."""
    spec = importlib.util.spec_from_file_location("pgrl_bench_purejaxrl", Path(__file__).with_name("purejaxrl.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pgrl_command(env: str, seeds: list[int], out: Path, budget: str, epochs: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "pgrl", "train", "ppo", "--env", env, "--out", str(out), "--quiet"]
    cmd += ["--seed", str(seeds[0])] if len(seeds) == 1 else ["--seeds", *map(str, seeds)]
    if budget == "until-solved":
        cmd.append("--until-solved")
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    return cmd


def run_pgrl(env: str, seeds: list[int], budget: str, epochs: int | None, together: bool) -> Row:
    """pgrl PPO on ``seeds``: in one process (``together``), else one process per seed, one after another."""
    with tempfile.TemporaryDirectory() as tmp:
        groups = [seeds] if together else [[s] for s in seeds]
        start = time.perf_counter()
        for i, group in enumerate(groups):
            out = Path(tmp) / f"g{i}"
            done = subprocess.run(pgrl_command(env, group, out, budget, epochs), capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"pgrl failed: {done.stderr.strip().splitlines()[-1:]}")
        wall = time.perf_counter() - start
        results = [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("**/eval.json"))]
    assert len(results) == len(seeds), results
    train = [float(r["train_seconds"]) for r in results]
    name = "pgrl, one process" if together else ("pgrl" if len(seeds) == 1 else "pgrl, sequential runs")
    return Row(name, len(seeds), wall, max(train) if together else sum(train), [int(r["total_steps"]) for r in results],
               sum(bool(r.get("solved")) for r in results))  # fmt: skip


def run_peer(agents: int, steps: float) -> Row:
    peer = purejaxrl()
    start = time.perf_counter()
    r = peer.run_purejaxrl(agents, steps)
    wall = time.perf_counter() - start
    return Row("PureJaxRL (vmap)" if agents > 1 else "PureJaxRL", agents, wall, float(r["run_s"]),
               [int(r["steps_per_agent"])] * agents, int(r["solved_count"]), f"compile {r['compile_s']:.1f} s")  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [
        "| system | agents | wall s | training s | steps per agent (median) | aggregate steps/s | solved | note |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.system} | {r.agents} | {r.wall_s:.1f} | {r.train_s:.1f} | {statistics.median(r.steps):,.0f} | "
            f"{r.steps_per_s:,.0f} | {r.solved}/{r.agents} | {r.note} |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> list[str]:
    by = {r.system: r for r in rows}
    one, group, seq = by.get("pgrl"), by.get("pgrl, one process"), by.get("pgrl, sequential runs")
    out = []
    if one and group:
        out.append(f"K seeds in one process / one seed, wall: {group.wall_s / one.wall_s:.2f}x")
    if seq and group:
        out.append(f"K sequential runs / K seeds in one process, wall: {seq.wall_s / group.wall_s:.2f}x")
        out.append(f"aggregate steps/s, one process / sequential: {group.steps_per_s / seq.steps_per_s:.2f}x")
    vmap = by.get("PureJaxRL (vmap)")
    if vmap and group:
        out.append(f"PureJaxRL's K vmapped agents / pgrl's K seeds, wall: {vmap.wall_s / group.wall_s:.2f}x")
    single = by.get("PureJaxRL")
    if single and group:
        out.append(
            f"pgrl K seeds' aggregate steps/s / PureJaxRL one agent's: {group.steps_per_s / single.steps_per_s:.2f}x"
        )
    return out


def pgrl_rows(args: argparse.Namespace, seeds: list[int]) -> list[Row]:
    """One round of pgrl's rows: one seed, the K seeds in one process, (unless skipped) K sequential runs."""
    rows = [run_pgrl(args.env, seeds[:1], args.budget, args.epochs, together=False),
            run_pgrl(args.env, seeds, args.budget, args.epochs, together=True)]  # fmt: skip
    if not args.no_sequential:
        rows.append(run_pgrl(args.env, seeds, args.budget, args.epochs, together=False))
    return rows


def median_row(rows: list[Row]) -> Row:
    """The round whose wall time is the median (the lower one of an even count), its note saying so."""
    if len(rows) == 1:
        return rows[0]
    ranked = sorted(rows, key=lambda r: r.wall_s)
    chosen = ranked[(len(ranked) - 1) // 2]
    walls = ", ".join(f"{r.wall_s:.1f}" for r in rows)
    chosen.note = f"median of {len(rows)} rounds (wall s: {walls})"
    return chosen


def main(argv: list[str] | None = None) -> list[Row]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--seeds", type=int, default=10, help="K, the seeds 0 .. K-1")
    p.add_argument("--budget", choices=("until-solved", "preset"), default="until-solved")
    p.add_argument("--epochs", type=int, help="the budget in epochs (default: the preset's)")
    p.add_argument("--no-sequential", action="store_true", help="skip the K sequential runs")
    p.add_argument("--no-peers", action="store_true", help="skip PureJaxRL")
    p.add_argument("--peer-steps", type=float, default=5e5, help="PureJaxRL's steps per agent (its default 5e5)")
    p.add_argument("--repeats", type=int, default=1,
                   help="run pgrl's rows this many times, interleaved, and report each row's median wall time "
                        "(this machine's timings vary by +-20%% from run to run)")  # fmt: skip
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    seeds = list(range(args.seeds))
    rounds = [pgrl_rows(args, seeds) for _ in range(max(1, args.repeats))]
    rows = [median_row([r[i] for r in rounds]) for i in range(len(rounds[0]))]
    if not args.no_peers and args.env == "CartPole-v1":
        reason = purejaxrl().missing()
        if reason is None:
            rows += [run_peer(1, args.peer_steps), run_peer(args.seeds, args.peer_steps)]
        else:
            print(f"PureJaxRL not run: {reason}")
    print(f"{args.env}, {args.seeds} seeds, budget {args.budget}" + (f" ({args.epochs} epochs)" if args.epochs else ""))
    print(table(rows))
    for line in ratios(rows):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps([{**r.__dict__, "steps_per_s": r.steps_per_s} for r in rows], indent=1))
    return rows


if __name__ == "__main__":
    main()
