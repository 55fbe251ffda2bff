import pytest

from console.distribution import Histogram, exponential_bounds, linear_bounds, merge_all


def test_bounds_of_each_layout():
    assert linear_bounds(3, 10, 5) == (5, 15, 25, 35)
    assert exponential_bounds(3, 2, 1) == (1, 2, 4, 8)


def test_trailing_zero_buckets_may_be_trimmed():
    assert Histogram((1, 2, 4), (0, 3)).counts == (0, 3, 0, 0)


def test_percentile_interpolates_inside_the_bucket():
    h = Histogram((0, 100, 200, 300), (0, 50, 40, 10, 0))
    assert h.percentile(0.5) == pytest.approx(100)
    assert h.percentile(0.9) == pytest.approx(200)
    assert h.percentile(0.95) == pytest.approx(250)
    assert Histogram((1, 2), (0, 0, 0)).percentile(0.5) is None


def test_overflow_bucket_reports_its_lower_edge():
    assert Histogram((10, 20), (0, 0, 5)).percentile(0.99) == 20


def test_merging_differs_from_percentile_of_percentiles():
    bounds = tuple(range(0, 1001, 50))
    fast = Histogram(bounds, (0,) + (900,) + (0,) * 19 + (0,))  # 900 requests under 50 ms
    slow_counts = [0] * 22
    slow_counts[20] = 100  # 100 requests at 950–1000 ms
    slow = Histogram(bounds, tuple(slow_counts))
    merged = merge_all([fast, slow])
    assert merged.count == 1000
    true_p95 = merged.percentile(0.95)
    mean_of_p95 = (fast.percentile(0.95) + slow.percentile(0.95)) / 2
    assert true_p95 == pytest.approx(975, abs=1)
    assert abs(true_p95 - mean_of_p95) > 400


def test_merge_refuses_other_layouts():
    with pytest.raises(ValueError):
        Histogram((1, 2), (1, 1, 1)).merged(Histogram((1, 3), (1, 1, 1)))


def test_slow_counts_at_bucket_edges():
    h = Histogram((100, 200, 400), (5, 10, 20, 7))
    assert h.snap(390) == 400
    assert h.snap(150) == 100
    assert h.count_at_or_above(200) == 27
    with pytest.raises(ValueError):
        h.count_at_or_above(250)
