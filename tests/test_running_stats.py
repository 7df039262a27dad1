"""The observation statistics' shorter paths give numpy's numbers bit for bit (issue 16 item 3)."""

from __future__ import annotations

import numpy as np
import pytest

from pgrl.normalize import RunningMeanStd, mean_var

SHAPES = [(1, 4), (2, 3), (32, 4), (129, 1), (300, 8), (2048, 4), (5, 3, 2), (1000, 17)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_mean_var_is_numpys_bit_for_bit(dtype: type, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    for scale, offset in ((1e-3, 0.0), (1.0, 3.0), (1e4, -7.0)):
        batch = (rng.standard_normal(shape) * scale + offset).astype(dtype)
        mean, var = mean_var(batch)
        expected_mean, expected_var = batch.mean(axis=0), batch.var(axis=0)
        for got, expected in ((mean, expected_mean), (var, expected_var)):
            assert got.dtype == expected.dtype and got.shape == expected.shape
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("batch", [np.arange(12, dtype=np.int64).reshape(6, 2), np.linspace(0, 1, 7),
                                   np.ones((4, 2), dtype=np.float16)])  # fmt: skip
def test_mean_var_leaves_other_batches_to_numpy(batch: np.ndarray) -> None:
    mean, var = mean_var(batch)
    assert np.asarray(mean).dtype == np.asarray(batch.mean(axis=0)).dtype
    np.testing.assert_array_equal(mean, batch.mean(axis=0))
    np.testing.assert_array_equal(var, batch.var(axis=0))


def test_running_statistics_and_normalisation_as_before() -> None:
    """The update and normalize of the plain formulas, with numpy's mean, var and clip."""
    rng = np.random.default_rng(0)
    rms = RunningMeanStd((4,), clip=3.0)
    mean, var, count = np.zeros(4), np.ones(4), 1e-4
    for _ in range(20):
        batch = (rng.standard_normal((32, 4)) * [1, 5, 0.1, 20]).astype(np.float32)
        rms.update(batch)
        b_mean, b_var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta, total = b_mean - mean, count + n
        mean = mean + delta * n / total
        var = (var * count + b_var * n + delta**2 * count * n / total) / total
        count = total
        np.testing.assert_array_equal(rms.mean, mean)
        np.testing.assert_array_equal(rms.var, var)
        x = batch.copy()
        x[0, 0], x[1, 1] = np.nan, 1e6  # NaN stays NaN; a far value is clipped
        expected = np.clip((x - mean) / np.sqrt(var + 1e-8), -3.0, 3.0).astype(np.float32)
        got = rms.normalize(x)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
        assert np.isnan(got[0, 0]) and got[1, 1] == 3.0
