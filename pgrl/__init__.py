"""pgrl: policy-gradient reinforcement learning that reads like the pseudocode and runs fast on a CPU."""

from pgrl.agent import Agent
from pgrl.algos.a2c import a2c
from pgrl.algos.ars import ars
from pgrl.algos.ppo import ppo
from pgrl.algos.reinforce import reinforce
from pgrl.algos.vpg import vpg
from pgrl.errors import PgrlError
from pgrl.evaluate import evaluate
from pgrl.load import load
from pgrl.plot import plot
from pgrl.version import __version__
from pgrl.watch import watch

__all__ = [
    "Agent",
    "PgrlError",
    "__version__",
    "a2c",
    "ars",
    "evaluate",
    "load",
    "plot",
    "ppo",
    "reinforce",
    "vpg",
    "watch",
]
