"""FlatIndex and knn() against a float64 NumPy brute force, on every metric."""

import os
import subprocess
import sys

import numpy as np
import pytest

import vecaccel
from reference import reference_knn, scores

METRICS = ["l2", "ip", "cosine"]


def indexed(base, metric, context):
    index = vecaccel.FlatIndex(base.shape[1], metric, context)
    index.add(base)
    return index


def small_integers(rng, n, d):
    # Every product and sum of these is exact in float32: results must equal float64 bit for bit,
    # ties (there are many) included.
    return rng.integers(-4, 5, size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_search_on_integer_data_equals_float64_brute_force_ties_by_label(context, rng, metric):
    base, queries = small_integers(rng, 700, 12), small_integers(rng, 40, 12)
    index = indexed(base, metric, context)
    D, I = index.search(queries, 25)
    D_ref, I_ref = reference_knn(base, queries, 25, metric)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref.astype(np.float32))


@pytest.mark.parametrize("metric", METRICS)
def test_search_on_float_data_returns_the_float64_nearest(context, rng, metric):
    base = rng.standard_normal((1500, 48)).astype(np.float32)
    queries = rng.standard_normal((30, 48)).astype(np.float32)
    index = indexed(base, metric, context)
    D, I = index.search(queries, 10)
    D_ref, I_ref = reference_knn(base, queries, 10, metric)
    assert D.dtype == np.float32 and I.dtype == np.int64 and D.shape == I.shape == (30, 10)
    np.testing.assert_allclose(D, D_ref, rtol=1e-5, atol=1e-4)
    # Each label is as near as float64's neighbour of the same rank (labels themselves may
    # differ only between neighbours float32 cannot tell apart), and D holds its own distance.
    own = np.take_along_axis(scores(base, queries, metric), I, axis=1)
    np.testing.assert_allclose(own, D_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(D, own, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_knn_function_equals_float64_brute_force(context, rng, metric):
    base, queries = small_integers(rng, 300, 16), small_integers(rng, 20, 16)
    D, I = vecaccel.knn(base, queries, 7, metric=metric, context=context)
    D_ref, I_ref = reference_knn(base, queries, 7, metric)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref.astype(np.float32))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_any_k_thousands_of_neighbours_equal_float64_brute_force(context, rng, metric):
    # Past the 2048 there once was a limit: selection and sorting in global memory; k above
    # the rows pads.
    base, queries = small_integers(rng, 6000, 4), small_integers(rng, 3, 4)
    index = indexed(base, metric, context)
    for k in (3000, 7000):
        D, I = index.search(queries, k)
        D_ref, I_ref = reference_knn(base, queries, k, metric)
        np.testing.assert_array_equal(I, I_ref)
        np.testing.assert_array_equal(D, D_ref.astype(np.float32))


@pytest.mark.parametrize("metric,worst", [("l2", np.inf), ("ip", -np.inf)])
def test_k_above_ntotal_pads_with_minus_one_and_the_worst_distance(context, rng, metric, worst):
    base = small_integers(rng, 3, 4)
    index = indexed(base, metric, context)
    D, I = index.search(small_integers(rng, 2, 4), 5)
    assert D.shape == I.shape == (2, 5)
    assert (I[:, 3:] == -1).all() and (D[:, 3:] == worst).all()
    assert sorted(I[0, :3]) == [0, 1, 2]


def test_empty_index_returns_only_padding(context, rng):
    index = vecaccel.FlatIndex(4, "l2", context)
    D, I = index.search(small_integers(rng, 2, 4), 3)
    assert (I == -1).all() and (D == np.inf).all()


def test_add_with_ids_labels_results_with_the_callers_ids(context, rng):
    base = small_integers(rng, 50, 8)
    ids = np.arange(50, dtype=np.int64) * 1000 + 7
    index = vecaccel.FlatIndex(8, "l2", context)
    index.add_with_ids(base, ids)
    queries = small_integers(rng, 5, 8)
    _, I = index.search(queries, 4)
    _, I_ref = reference_knn(base, queries, 4, "l2", labels=ids)
    np.testing.assert_array_equal(I, I_ref)


def test_ntotal_len_dim_metric_and_reset(context, rng):
    index = vecaccel.FlatIndex(6, "ip", context)
    assert (index.ntotal, len(index), index.dim, index.metric) == (0, 0, 6, "inner_product")
    index.add(small_integers(rng, 10, 6))
    index.add(small_integers(rng, 5, 6))
    assert index.ntotal == len(index) == 15
    assert repr(index) == "vecaccel.FlatIndex(dim=6, metric='inner_product', ntotal=15)"
    index.reset()
    assert index.ntotal == 0
    assert index.context is context


def test_second_add_numbers_rows_after_the_first(context, rng):
    first, second = small_integers(rng, 10, 4), small_integers(rng, 10, 4)
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(first)
    index.add(second)
    queries = small_integers(rng, 6, 4)
    _, I_ref = reference_knn(np.vstack([first, second]), queries, 20, "l2")
    np.testing.assert_array_equal(index.search(queries, 20)[1], I_ref)


def test_index_without_context_uses_one_shared_default(rng):
    a, b = vecaccel.FlatIndex(4), vecaccel.FlatIndex(4, "cosine")
    assert a.context is b.context
    a.add(small_integers(rng, 5, 4))
    assert a.search(small_integers(rng, 1, 4), 2)[1].shape == (1, 2)


def test_devices_info_and_context_describe_the_device(context):
    devices = vecaccel.devices()
    assert devices and all({"index", "name", "type", "explicit_model"} <= d.keys() for d in devices)
    info = vecaccel.info()
    assert info["version"] == vecaccel.__version__ and info["devices"] == devices
    assert context.device["index"] in [d["index"] for d in devices]
    assert context.device["name"] in repr(context)
    assert set(context.stats()) >= {"operations", "timeouts", "cancellations"}


def test_context_on_a_device_index_and_out_of_range_index(context):
    first = vecaccel.Context(device=0)
    assert first.device == vecaccel.devices()[0]
    with pytest.raises(vecaccel.Error) as error:
        vecaccel.Context(device=len(vecaccel.devices()))
    assert error.value.code == "invalid_argument"


def run_python(code):
    env = {k: v for k, v in os.environ.items() if k != "VECACCEL_VALIDATION"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_validation_requested_first_turns_the_layer_on():
    done = run_python("import vecaccel; vecaccel.Context(validation=True); print(vecaccel.info()['validation'])")
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_validation_requested_after_vulkan_is_open_is_refused():
    done = run_python(
        "import vecaccel\n"
        "vecaccel.Context()\n"
        "try:\n"
        "    vecaccel.Context(validation=True)\n"
        "except vecaccel.Error as e:\n"
        "    print(e.code)\n"
    )
    assert done.returncode == 0 and done.stdout.strip() == "unsupported", done.stderr
