"""What Python callers pass: array-likes, dtypes, layouts, DLPack; wrong shapes and library
errors."""

import numpy as np
import pytest

import vecaccel
from vecaccel import _vecaccel
from reference import reference_knn


@pytest.fixture
def index(context):
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(np.arange(40, dtype=np.float32).reshape(10, 4))
    return index


def expected(queries, k=3):
    return reference_knn(np.arange(40).reshape(10, 4), queries, k, "l2")


def test_c_contiguous_float32_is_used_without_a_copy():
    x = np.ones((5, 4), dtype=np.float32)
    assert _vecaccel._as_float32(x) is x


class DLPackOnly:
    """A CPU tensor that speaks only DLPack (as a PyTorch CPU tensor does besides __array__)."""

    def __init__(self, array):
        self.array = array

    def __dlpack__(self, stream=None):
        return self.array.__dlpack__()

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()


def test_dlpack_cpu_tensor_is_used_without_a_copy(index):
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.shares_memory(_vecaccel._as_float32(DLPackOnly(x)), x)
    D, I = index.search(DLPackOnly(x), 3)
    np.testing.assert_array_equal(I, expected(x)[1])


def test_buffer_protocol_and_array_interface_are_used_without_a_copy():
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert np.shares_memory(_vecaccel._as_float32(memoryview(x)), x)

    class Interface:
        __array_interface__ = x.__array_interface__

    assert np.shares_memory(_vecaccel._as_float32(Interface()), x)


@pytest.mark.parametrize(
    "convert",
    [
        lambda x: x.astype(np.float64),
        lambda x: x.astype(np.int32),
        lambda x: np.asfortranarray(x),
        lambda x: np.repeat(x, 2, axis=0)[::2],  # strided rows
        lambda x: x.tolist(),
    ],
    ids=["float64", "int32", "fortran", "strided", "list"],
)
def test_other_inputs_are_converted_once_and_give_the_same_results(index, convert):
    x = np.array([[1, 2, 3, 4], [30, 31, 29, 28], [9, 9, 9, 9]], dtype=np.float32)
    converted = _vecaccel._as_float32(convert(x))
    assert converted.dtype == np.float32 and converted.flags.c_contiguous
    D, I = index.search(convert(x), 3)
    D_ref, I_ref = expected(x)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref)


@pytest.mark.parametrize(
    "queries,message",
    [
        (np.zeros((3, 5), np.float32), r"queries must have shape \(n, 4\), got \(3, 5\)"),
        (np.zeros(4, np.float32), r"queries must have shape \(n, 4\), got \(4,\)"),
        (np.zeros((2, 2, 4), np.float32), r"got \(2, 2, 4\)"),
    ],
)
def test_wrong_query_shape_is_a_value_error_naming_the_expected_shape(index, queries, message):
    with pytest.raises(ValueError, match=message):
        index.search(queries, 1)


def test_wrong_shapes_in_add_and_knn_are_value_errors(index):
    with pytest.raises(ValueError, match=r"x must have shape \(n, 4\), got \(2, 3\)"):
        index.add(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"ids must have shape \(2,\), got \(3,\)"):
        index.add_with_ids(np.zeros((2, 4)), np.arange(3))
    with pytest.raises(ValueError, match=r"queries must have shape \(n, 4\), got \(1, 3\)"):
        vecaccel.knn(np.zeros((5, 4)), np.zeros((1, 3)), 1)
    assert index.ntotal == 10


@pytest.mark.parametrize("ids", [np.array([1.0, 2.0]), np.array([1, 2**63], dtype=np.uint64),
                                 [True, False]])
def test_ids_that_int64_cannot_hold_exactly_are_refused(index, ids):
    with pytest.raises(ValueError, match="ids must be integers that fit int64"):
        index.add_with_ids(np.zeros((2, 4)), ids)


def test_uint64_ids_whose_values_fit_int64_are_taken(context):
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add_with_ids(np.eye(4, dtype=np.float32)[:2], np.array([7, 2**40], dtype=np.uint64))
    assert index.search(np.eye(4, dtype=np.float32)[1:2], 1)[1].tolist() == [[2**40]]
    assert index.remove_ids(np.array([7], dtype=np.uint64)) == 1


def test_empty_id_lists_remove_none_and_allow_none(index):
    assert index.remove_ids([]) == 0
    D, I = index.search(np.zeros((1, 4)), 2, filter=[])
    assert I.tolist() == [[-1, -1]]


@pytest.mark.parametrize("call", ["k", "max_results"])
def test_integers_of_2_to_the_64_or_more_are_value_errors_naming_the_argument(index, call):
    huge = 2**64 + 3
    with pytest.raises(ValueError, match=f"{call} must be below 2\\^64, got {huge}"):
        if call == "k":
            index.search(np.zeros((1, 4)), huge)
        else:
            index.range_search(np.zeros((1, 4)), 1.0, max_results=huge)


def test_a_byte_index_refuses_uint64_values_past_int64_naming_the_value(context):
    index = vecaccel.FlatIndex(2, "l2", context, element_type="uint8")
    with pytest.raises(ValueError, match="x holds 18446744073709551615, outside the 0..255"):
        index.add(np.array([[1, 2**64 - 1]], dtype=np.uint64))


def test_reconstruct_names_the_positions_an_index_has_and_refuses_bools(index):
    with pytest.raises(ValueError, match=r"rows are positions 0\.\.9\)"):
        index.reconstruct(-1)
    with pytest.raises(ValueError, match="dtype bool"):
        index.reconstruct(True)


def test_write_vectors_refuses_float64_values_beyond_float32_naming_where(tmp_path):
    path = tmp_path / "x.npy"
    with pytest.raises(ValueError, match=r"array\[0, 1\] = 1e\+300 is beyond float32's range"):
        vecaccel.write_vectors(path, np.array([[1e-50, 1e300]]))
    assert not path.exists()
    vecaccel.write_vectors(path, np.array([[1.0, np.inf]]))  # infinities given are kept
    assert np.isinf(np.load(path)[0, 1])


def test_k_below_one_is_a_value_error(index):
    with pytest.raises(ValueError, match="k must be at least 1, got 0"):
        index.search(np.zeros((1, 4)), 0)
    with pytest.raises(ValueError, match="k must be at least 1, got -2"):
        index.search(np.zeros((1, 4)), -2)


@pytest.mark.parametrize("dim, error, message", [
    (-1, ValueError, "dim must be at least 1, got -1"),
    (0, ValueError, "dim must be at least 1, got 0"),
    ("abc", TypeError, "dim must be an integer, got 'abc'"),
    (2.5, TypeError, "dim must be an integer, got 2.5"),
])
def test_a_dim_that_is_no_positive_integer_is_named_with_the_value(context, dim, error, message):
    with pytest.raises(error, match=message):
        vecaccel.FlatIndex(dim, "l2", context)


def test_a_k_that_is_no_integer_is_named_with_the_value(index):
    with pytest.raises(TypeError, match="k must be an integer, got 'abc'"):
        index.search(np.zeros((1, 4)), "abc")


@pytest.mark.parametrize("name, metric", [("L2", "l2"), ("IP", "inner_product"),
                                          ("Cosine", "cosine"), ("Inner_Product", "inner_product")])
def test_metric_names_are_case_insensitive(context, name, metric):
    assert vecaccel.FlatIndex(4, name, context).metric == metric


def test_a_timeout_that_fires_names_the_limit_in_seconds_and_how_to_change_it(context, rng):
    index = vecaccel.FlatIndex(64, "l2", context)
    index.add(rng.standard_normal((5000, 64)).astype(np.float32))
    with pytest.raises(vecaccel.Error, match=r"time limit of 1e-09 s .*timeout=.*no limit unless"):
        index.search(rng.standard_normal((500, 64)).astype(np.float32), 10, timeout=1e-9)


def test_library_errors_are_vecaccel_errors_with_the_errc_name(index, context):
    with pytest.raises(vecaccel.Error) as error:
        index.search(np.zeros((1, 4)), 2**31)
    assert error.value.code == "invalid_argument" and str(error.value).startswith("invalid_argument: ")
    assert isinstance(error.value, RuntimeError)
    with pytest.raises(vecaccel.Error, match="row 1") as error:
        index.add(np.array([[0, 0, 0, 0], [0, np.nan, 0, 0]]))
    assert error.value.code == "invalid_argument"
    with pytest.raises(vecaccel.Error, match="dimension 70000 outside 1..65536") as error:
        vecaccel.FlatIndex(70000, "l2", context)
    assert error.value.code == "invalid_argument"
    with pytest.raises(vecaccel.Error, match="unknown metric 'manhattan'"):
        vecaccel.FlatIndex(4, "manhattan", context)
    with pytest.raises(vecaccel.Error) as error:
        vecaccel.FlatIndex.load("/nonexistent/index.vecaflat", context)
    assert error.value.code == "io_error"
    assert index.ntotal == 10


def test_timeout_gives_a_timeout_error_and_the_index_stays_usable(context, rng):
    index = vecaccel.FlatIndex(64, "l2", context)
    index.add(rng.standard_normal((5000, 64)).astype(np.float32))
    queries = rng.standard_normal((500, 64)).astype(np.float32)
    with pytest.raises(vecaccel.Error) as error:
        index.search(queries, 10, timeout=0.0005)
    assert error.value.code == "timeout"
    for bad in (-1, float("nan"), float("inf"), 1e30):
        with pytest.raises(ValueError, match="timeout must be between 0 and 1e9 seconds, got"):
            index.search(queries, 10, timeout=bad)
    assert index.search(queries[:2], 3)[1].shape == (2, 3)


def test_results_are_fresh_writable_arrays(index):
    D, I = index.search(np.zeros((2, 4), np.float32), 3)
    assert D.flags.writeable and I.flags.writeable and D.flags.c_contiguous
    assert not np.shares_memory(D, I)
