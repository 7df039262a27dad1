"""pgrl: policy-gradient reinforcement learning that reads like the pseudocode and runs fast on a CPU.

The names below load on first use (``pgrl.ppo`` imports torch and the algorithm then), so that ``import
pgrl`` and ``pgrl --help`` start without torch; importing pgrl registers ``pgrl/ContinuousCartPole-v0``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from pgrl.errors import PgrlError
from pgrl.registration import register_envs
from pgrl.version import __version__

if TYPE_CHECKING:
    from pgrl.agent import Agent
    from pgrl.algos.a2c import a2c
    from pgrl.algos.ars import ars
    from pgrl.algos.ppo import ppo
    from pgrl.algos.reinforce import reinforce
    from pgrl.algos.vpg import vpg
    from pgrl.evaluate import evaluate
    from pgrl.load import load
    from pgrl.plot import plot
    from pgrl.watch import watch

_LAZY = {
    "Agent": "pgrl.agent",
    "a2c": "pgrl.algos.a2c",
    "ars": "pgrl.algos.ars",
    "ppo": "pgrl.algos.ppo",
    "reinforce": "pgrl.algos.reinforce",
    "vpg": "pgrl.algos.vpg",
    "evaluate": "pgrl.evaluate",
    "load": "pgrl.load",
    "plot": "pgrl.plot",
    "watch": "pgrl.watch",
}

__all__ = [  # noqa: RUF022 (kept in this order: the eager names, then _LAZY's)
    "PgrlError",
    "__version__",
    "Agent",
    "a2c",
    "ars",
    "ppo",
    "reinforce",
    "vpg",
    "evaluate",
    "load",
    "plot",
    "watch",
]

register_envs()


class _Package(types.ModuleType):
    """pgrl itself, keeping ``pgrl.evaluate`` (and load, plot, watch) the function when its submodule of the
    same name is imported: the import system binds a submodule on its package, which would shadow the lazy
    name (an eager ``from pgrl.evaluate import evaluate`` used to rebind it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType) and value.__name__ == _LAZY[name]:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'pgrl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
