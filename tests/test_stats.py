import numpy as np
import pytest

from sim.stats import Histogram, RateMeter


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
    assert h._bins.nbytes == size


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
