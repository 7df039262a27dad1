"""Running statistics saved with a run: the observations' mean and variance (so a reloaded agent sees the
same inputs) and the spread of the discounted return that scales the rewards in training."""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Running mean and variance over a stream of batches (Chan et al.'s parallel update).

    Statistics are float64 so that millions of updates do not drift; ``normalize`` returns float32.
    """

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = 1e-4  # a tiny prior count avoids dividing by zero before the first update
        self.clip = clip
        self.epsilon = epsilon

    def update(self, batch: np.ndarray) -> None:
        """Fold in a batch shaped (B, *shape)."""
        b_mean, b_var = mean_var(batch)
        b_count = batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """(x - mean) / std, clipped to [-clip, clip], as float32."""
        z = (x - self.mean) / np.sqrt(self.var + self.epsilon)
        # np.clip's bits (NaN stays NaN) without its Python dispatch: ~4 us of every collection step
        return np.minimum(np.maximum(z, -self.clip), self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": float(self.count), "clip": self.clip}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64).reshape(self.mean.shape)
        self.var = np.asarray(state["var"], dtype=np.float64).reshape(self.var.shape)
        self.count = float(state["count"])  # type: ignore[arg-type]
        self.clip = float(state["clip"])  # type: ignore[arg-type]


def mean_var(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``batch.mean(axis=0)`` and ``batch.var(axis=0)``, bit for bit (a test compares them), computing the mean
    once: numpy's var sums the batch again for its own mean, and both wrap their ufuncs in Python checks,
    ~25 us of every collection step with observation normalisation, ~10 us with the ufuncs called as numpy's
    ``_methods._mean`` and ``_var`` call them. For float32 and float64 batches of two or more axes (the
    observations); anything else (integers, whose mean numpy takes in float64; 1-d batches, whose mean is a
    numpy scalar) goes through numpy's functions."""
    if batch.ndim < 2 or batch.dtype not in (np.float32, np.float64):
        return batch.mean(axis=0), batch.var(axis=0)
    count = np.intp(batch.shape[0])
    mean = np.add.reduce(batch, axis=0, keepdims=True)
    np.true_divide(mean, count, out=mean, casting="unsafe")
    squares = np.subtract(batch, mean)
    np.square(squares, out=squares)
    var = np.add.reduce(squares, axis=0)
    np.true_divide(var, count, out=var, casting="unsafe")
    return mean[0], var


class RewardScaler:
    """Rewards divided by the running standard deviation of the discounted return, then clipped.

    Per env copy, G_t = gamma * G_{t-1} + r_t, restarted at every episode end (termination or
    truncation); every step's G of every copy is folded into a running variance (:class:`RunningMeanStd`,
    one value per copy and step), and the step's reward becomes ``clip(r / sqrt(var + eps), -clip, clip)``.
    Scaling by the return's spread (not centring it) keeps the sign and the optimum of the problem, and
    brings the critic's targets to a scale where one learning rate fits every env: one of the details that
    matter for PPO on continuous control (Engstrom et al. 2020; Andrychowicz et al. 2021), as SB3's
    VecNormalize and CleanRL compute it. The statistics are saved with the run and restored on resume.

    Args:
        num_envs: N, the env copies (the returns are kept per copy).
        gamma: the discount of the return whose spread scales the rewards.
        clip: bound of the scaled rewards.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        self.rms = RunningMeanStd((), clip=clip, epsilon=epsilon)
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon

    def __call__(self, rewards: np.ndarray, done: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
        """The scaled rewards (N,) float32 of one vector step; ``done`` (N,) bool: the episodes that ended.

        ``counted`` (N,) bool: the copies whose step is a step of an episode (default all). A NEXT_STEP
        vector env's reset step is none (reward 0, learned from by no one): its return is not folded in, so
        the statistics are those of the same episodes stepped in SAME_STEP mode."""
        self.returns = self.returns * self.gamma + rewards
        if counted is None:
            self.rms.update(self.returns)
        elif counted.any():
            self.rms.update(self.returns[counted])
        scaled = np.clip(rewards / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)
        self.returns[done] = 0.0
        return scaled.astype(np.float32)

    def state_dict(self) -> dict[str, object]:
        return {"rms": self.rms.state_dict(), "returns": self.returns.tolist()}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.rms.load_state_dict(state["rms"])  # type: ignore[arg-type]
        returns = np.asarray(state["returns"], dtype=np.float64)
        if returns.shape != self.returns.shape:
            raise ValueError(f"reward statistics for {returns.shape[0]} envs, this run has {self.returns.shape[0]}")
        self.returns = returns
