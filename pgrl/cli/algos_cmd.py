"""``pgrl algos``: the algorithms, one line each, with their default hyperparameters and env presets."""

from __future__ import annotations

import argparse
from typing import Any

from pgrl.algos.registry import ALGORITHMS
from pgrl.algos.signature import in_signature_order
from pgrl.presets import PRESETS


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser("algos", help=help)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name, info in ALGORITHMS.items():
        print(f"{name:10s} {info.summary}")
        defaults = ", ".join(f"{hp.name}={hp.default}" for hp in in_signature_order(info.fn, info.config))
        print(f"{'':10s} defaults: {defaults}")
        for env_id, preset in PRESETS.get(name, {}).items():
            print(f"{'':10s} {env_id}: " + ", ".join(f"{k}={v}" for k, v in preset.items()))
    return 0
