"""Running mean/variance of observations, saved with the model so a reloaded agent sees the same inputs."""

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
        b_mean = batch.mean(axis=0)
        b_var = batch.var(axis=0)
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
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, object]:
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": float(self.count), "clip": self.clip}

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.mean = np.asarray(state["mean"], dtype=np.float64).reshape(self.mean.shape)
        self.var = np.asarray(state["var"], dtype=np.float64).reshape(self.var.shape)
        self.count = float(state["count"])  # type: ignore[arg-type]
        self.clip = float(state["clip"])  # type: ignore[arg-type]
