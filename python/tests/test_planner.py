"""knn() through the library's search planner: arrays, FlatIndexes and mapped files as the base,
held or streamed (memory_budget), on one device or several (the same one twice), exact against
the float64 brute force."""

import numpy as np
import pytest

import vecaccel
from reference import reference_knn

METRICS = ["l2", "ip", "cosine"]


def small_integers(rng, n, d):
    # Exact in float32: many ties within and across the devices' shares.
    return rng.integers(-4, 5, size=(n, d)).astype(np.float32)


def assert_exact(D, I, base, queries, k, metric):
    D_ref, I_ref = reference_knn(base, queries, k, metric)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_allclose(D, D_ref.astype(np.float32), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_an_array_on_the_same_device_twice_equals_the_float64_brute_force(rng, metric):
    base, queries = small_integers(rng, 900, 10), small_integers(rng, 20, 10)
    D, I = vecaccel.knn(base, queries, 12, metric=metric, devices=[0, 0])
    assert_exact(D, I, base, queries, 12, metric)


@pytest.mark.parametrize("devices", [None, [0, 0]])
def test_a_file_larger_than_the_memory_budget_is_streamed_exactly(tmp_path, rng, devices):
    base, queries = small_integers(rng, 2000, 16), small_integers(rng, 15, 16)
    path = tmp_path / "base.npy"
    np.save(path, base)
    budget = 8 * 1024  # the base takes 136,000 bytes on a device
    assert base.shape[0] * (base.shape[1] + 1) * 4 > budget
    D, I = vecaccel.knn(str(path), queries, 10, devices=devices, memory_budget=budget)
    assert_exact(D, I, base, queries, 10, "l2")
    D_path, I_path = vecaccel.knn(path, queries, 10)  # a PathLike, held whole
    np.testing.assert_array_equal(I_path, I)
    np.testing.assert_array_equal(D_path, D)


def test_an_array_over_the_budget_is_streamed_with_the_same_bits(context, rng):
    base = rng.standard_normal((1200, 24)).astype(np.float32)
    queries = rng.standard_normal((7, 24)).astype(np.float32)
    held = vecaccel.knn(base, queries, 9, metric="cosine", context=context)
    streamed = vecaccel.knn(base, queries, 9, metric="cosine", devices=[0, 0], memory_budget=4096)
    np.testing.assert_array_equal(streamed[1], held[1])
    np.testing.assert_array_equal(streamed[0], held[0])
    assert_exact(*held, base, queries, 9, "cosine")


def test_a_flat_index_is_searched_on_its_own_context(context, rng):
    base, queries = small_integers(rng, 300, 8), small_integers(rng, 5, 8)
    index = vecaccel.FlatIndex(8, "ip", context)
    index.add(base)
    D, I = vecaccel.knn(index, queries, 6, metric="ip")
    assert_exact(D, I, base, queries, 6, "ip")
    with pytest.raises(vecaccel.Error, match="metric inner_product searched for metric l2"):
        vecaccel.knn(index, queries, 6)
    with pytest.raises(ValueError, match="own context"):
        vecaccel.knn(index, queries, 6, metric="ip", devices=[0])


def test_bad_devices_and_budgets_are_refused_naming_them(context, rng):
    base = small_integers(rng, 50, 4)
    with pytest.raises(ValueError, match="each of devices must be at least 0, got -1"):
        vecaccel.knn(base, base[:1], 1, devices=[-1])
    with pytest.raises(ValueError, match="empty list"):
        vecaccel.knn(base, base[:1], 1, devices=[])
    with pytest.raises(ValueError, match="context or devices, not both"):
        vecaccel.knn(base, base[:1], 1, context=context, devices=[0])
    with pytest.raises(ValueError, match="memory_budget must be at least 1, got 0"):
        vecaccel.knn(base, base[:1], 1, memory_budget=0)
    with pytest.raises(vecaccel.Error, match="smaller than one row"):
        vecaccel.knn(base, base[:1], 1, memory_budget=16)
