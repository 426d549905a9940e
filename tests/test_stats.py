import copy
import math
import pickle

import numpy as np
import pytest

from sim.common.stats import Histogram, RateMeter


def test_histogram_quantiles_within_bin_width() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(mean=-6, sigma=1.0, size=20000)
    h = Histogram()
    for v in values:
        h.add(float(v))
    assert h.count == 20000
    assert h.max == pytest.approx(values.max())
    assert h.mean == pytest.approx(values.mean())
    for q in (0.5, 0.9, 0.99):
        assert h.quantile(q) == pytest.approx(np.quantile(values, q), rel=0.03)


def test_histogram_memory_is_fixed() -> None:
    h = Histogram()
    size = h._bins.nbytes
    for i in range(100000):
        h.add(i * 1e-5)
    assert h._bins.nbytes == size == len(h._counts) * h._counts.itemsize


def test_histogram_bins_follow_the_documented_grid() -> None:
    """Bin i > 0 holds (1 µs * 1.02**(i-1), 1 µs * 1.02**i]; below 1 µs counts as zero; huge values clamp."""
    values = [0.0, 5e-7, 1e-6, 1.5e-6, 0.0123, 0.0123, 2.0, 5e4]
    h = Histogram()
    for v in values:
        h.add(v)
    expected: dict[int, int] = {}
    for v in values[2:]:
        i = min(int(math.log(v / 1e-6) / math.log(1.02)) + 1, len(h._bins) - 1)
        expected[i] = expected.get(i, 0) + 1
    assert {int(i): int(h._bins[i]) for i in np.flatnonzero(h._bins)} == expected
    assert h.nonzero_bins() == [(0.0, 2)] + [(1e-6 * 1.02 ** i, n) for i, n in sorted(expected.items())]
    assert (h.count, h.min, h.max, h.total) == (8, 0.0, 5e4, sum(values))


def test_histogram_merge_copy_and_pickle() -> None:
    rng = np.random.default_rng(2)
    a, b, both = Histogram(), Histogram(), Histogram()
    for v in rng.lognormal(-5, 2, 3000):
        (a if v < 0.01 else b).add(float(v))
        both.add(float(v))
    a.merge(b)
    assert np.array_equal(a._bins, both._bins) and a.count == both.count and a.max == both.max
    assert a.summary() == pytest.approx(both.summary())
    for twin in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert twin.summary() == a.summary() and twin.nonzero_bins() == a.nonzero_bins()
        twin.add(1.0)
        assert twin.count == a.count + 1 and twin._bins.sum() != a._bins.sum()  # independent counts


def test_histogram_empty_and_zero() -> None:
    h = Histogram()
    assert h.summary()["p99"] is None
    h.add(0.0)
    assert h.quantile(0.5) == 0.0


def test_rate_meter() -> None:
    m = RateMeter()
    for k in range(101):
        m.tick(k * 0.1)
    assert m.rate() == pytest.approx(10.0)
