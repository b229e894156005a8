"""knn_graph: each row's k nearest other rows, equal to the float64 brute force over the others."""

import numpy as np
import pytest

import vecaccel
from reference import reference_graph


def tied_rows(rng, n, d):
    """Small integers, every fifth row a copy of an earlier one: ties and duplicates."""
    x = rng.integers(-2, 3, size=(n, d)).astype(np.float32)
    for row in range(5, n, 5):
        x[row] = x[rng.integers(0, row)]
    return x


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine", "l1", "linf"])
def test_graph_equals_the_float64_brute_force_over_the_other_rows(context, rng, metric):
    x = tied_rows(rng, 120, 6)
    D, I = vecaccel.knn_graph(x, 6, metric, context=context)
    D_ref, I_ref = reference_graph(x, 6, "ip" if metric == "ip" else metric)
    assert D.dtype == np.float32 and I.dtype == np.int64 and I.shape == (120, 6)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_allclose(D, D_ref.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_a_row_is_left_out_by_position_among_its_duplicates_and_k_past_n_pads(context):
    x = np.ones((5, 3), dtype=np.float32)  # five equal rows
    _, I = vecaccel.knn_graph(x, 2, context=context)
    assert I.tolist() == [[1, 2], [0, 2], [0, 1], [0, 1], [0, 1]]
    D, I = vecaccel.knn_graph(x[:3], 4, context=context)
    assert I.tolist() == [[1, 2, -1, -1], [0, 2, -1, -1], [0, 1, -1, -1]]
    assert np.isinf(D[:, 2:]).all() and (D[:, :2] == 0).all()


def test_a_file_streamed_over_two_devices_gives_the_same_graph(context, rng, tmp_path):
    x = tied_rows(rng, 150, 8)
    vecaccel.write_vectors(tmp_path / "x.npy", x)
    held = vecaccel.knn_graph(x, 5, context=context)
    streamed = vecaccel.knn_graph(str(tmp_path / "x.npy"), 5, devices=[0, 0], memory_budget=2048)
    for a, b in zip(held, streamed):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(held[1], reference_graph(x, 5, "l2")[1])


def test_graph_refuses_k_zero_and_an_index(context):
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="k must be at least 1"):
        vecaccel.knn_graph(x, 0, context=context)
    with pytest.raises(ValueError, match="not a FlatIndex"):
        vecaccel.knn_graph(vecaccel.FlatIndex(2, context=context), 1)


def test_graph_refuses_zero_width_rows_and_names_a_row_that_is_not_finite(context):
    with pytest.raises(vecaccel.Error, match="dimension must be at least 1"):
        vecaccel.knn_graph(np.ones((4, 0), dtype=np.float32), 1, context=context)
    x = np.ones((4, 2), dtype=np.float32)
    x[2, 1] = np.nan
    with pytest.raises(vecaccel.Error, match="base row 2 holds nan at dimension 1: values must be finite"):
        vecaccel.knn_graph(x, 1, context=context)


def test_devices_may_be_any_sequence_and_an_index_past_32_bits_is_refused(context):
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    D, I = vecaccel.knn(x, x[:2], 2, devices=(0,))
    np.testing.assert_array_equal(I, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=f"each of devices must be an index into devices\\(\\), got {2**40}"):
        vecaccel.knn(x, x[:2], 2, devices=[2**40])
