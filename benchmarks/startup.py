"""Start-up: a bare ``import torch`` process, ``pgrl --help`` and a one-epoch CartPole-v1 run, wall clock,
interleaved so that a noisy machine loads all three alike; the medians and the run's cost over torch.

Usage::

    python benchmarks/startup.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

TRAIN = [
    "train",
    "ppo",
    "--env",
    "CartPole-v1",
    "--epochs",
    "1",
    "--eval-episodes",
    "0",
    "--quiet",
    "--overwrite",
    "--out",
]
COMMANDS = {
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    "pgrl --help": [sys.executable, "-m", "pgrl", "--help"],
    "pgrl train ppo --env CartPole-v1 --epochs 1 --eval-episodes 0": [sys.executable, "-m", "pgrl", *TRAIN],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeats):
            for name, command in COMMANDS.items():
                times[name].append(wall([*command, f"{out}/run"] if command[-1] == "--out" else command))
    medians = {name: statistics.median(t) for name, t in times.items()}
    torch_s = medians["python -c 'import torch'"]
    print("| command | median s | min s | over import torch |")
    print("|---|---:|---:|---:|")
    for name, t in times.items():
        print(f"| `{name}` | {medians[name]:.2f} | {min(t):.2f} | {medians[name] - torch_s:+.2f} s |")
    return medians


if __name__ == "__main__":
    main()
