"""pgrl: policy-gradient reinforcement learning that reads like the pseudocode and runs fast on a CPU."""

__version__ = "0.1.0"

from pgrl.agent import Agent
from pgrl.algos.ppo import ppo
from pgrl.errors import PgrlError
from pgrl.evaluate import evaluate
from pgrl.load import load

__all__ = ["Agent", "PgrlError", "__version__", "evaluate", "load", "ppo"]
