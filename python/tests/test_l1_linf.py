"""metric="l1" and "linf" against the float64 NumPy brute force, ties by label."""

import numpy as np
import pytest

import vecaccel
from reference import reference_knn


@pytest.mark.parametrize("metric", ["l1", "linf", "L1", "LINF"])
def test_integer_data_equals_the_float64_brute_force_bit_for_bit(context, rng, metric):
    # Sums of small integers are exact: distances tie a lot, and ties must fall by label.
    base = rng.integers(-3, 4, size=(600, 11)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(40, 11)).astype(np.float32)
    index = vecaccel.FlatIndex(11, metric, context)
    index.add(base)
    assert index.metric == metric.lower()
    D, I = index.search(queries, 20)
    D_ref, I_ref = reference_knn(base, queries, 20, metric.lower())
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref.astype(np.float32))


@pytest.mark.parametrize("metric", ["l1", "linf"])
def test_offset_float_data_through_knn_returns_the_float64_nearest(context, rng, metric):
    base = (1000 + rng.standard_normal((800, 24))).astype(np.float32)
    queries = (1000 + rng.standard_normal((5, 24))).astype(np.float32)
    D, I = vecaccel.knn(base, queries, 10, metric=metric, context=context)
    D_ref, I_ref = reference_knn(base, queries, 10, metric)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_allclose(D, D_ref, rtol=1e-6)
