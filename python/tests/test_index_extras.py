"""What FAISS users reach for on an index: byte rows, reconstruct, search counts, GPU bytes,
and arrays from other libraries through DLPack."""

import numpy as np
import pytest

import vecaccel
from reference import reference_knn


class DLPackOnly:
    """An array from another library (as a PyTorch CPU tensor is): DLPack, no NumPy base class."""

    def __init__(self, array, device=(1, 0)):
        self._array = np.ascontiguousarray(array)
        self._device = device

    def __dlpack__(self, stream=None):
        return self._array.__dlpack__()

    def __dlpack_device__(self):
        return self._device


@pytest.mark.parametrize("element_type,low,high", [("uint8", 0, 256), ("int8", -128, 128)])
def test_byte_indexes_store_one_byte_per_element_and_search_exactly(
    context, rng, element_type, low, high
):
    base = rng.integers(low, high, size=(300, 16)).astype(element_type)
    base[100] = base[7]  # a duplicate: a tie broken by label
    queries = rng.integers(low, high, size=(10, 16)).astype(np.float32)
    index = vecaccel.FlatIndex(16, "l2", context, element_type=element_type)
    floats = vecaccel.FlatIndex(16, "l2", context)
    index.add(base)
    floats.add(base.astype(np.float32))
    assert index.element_type == element_type and element_type in repr(index)
    assert 0 < index.device_bytes < floats.device_bytes
    D, I = index.search(queries, 12)
    D_ref, I_ref = reference_knn(base, queries, 12, "l2")
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref.astype(np.float32))
    np.testing.assert_array_equal(index.reconstruct(np.array([7, 100, 0])), base[[7, 100, 0]])


def test_byte_indexes_refuse_floats_and_values_out_of_range(context):
    index = vecaccel.FlatIndex(2, "l2", context, element_type="uint8")
    with pytest.raises(ValueError, match="dtype float"):
        index.add(np.zeros((1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="300"):
        index.add(np.array([[1, 300]]))
    index.add(np.array([[1, 255]]))  # int64 values that fit are taken
    assert index.ntotal == 1
    with pytest.raises(ValueError, match="element_type"):
        vecaccel.FlatIndex(2, element_type="float16")


def test_reconstruct_gives_the_rows_at_positions(context, rng):
    base = rng.standard_normal((20, 5)).astype(np.float32)
    index = vecaccel.FlatIndex(5, "l2", context)
    index.add(base)
    np.testing.assert_array_equal(index.reconstruct(3), base[3])
    np.testing.assert_array_equal(index.reconstruct([19, 0]), base[[19, 0]])
    assert index.reconstruct(np.array([], dtype=np.int64)).shape == (0, 5)
    with pytest.raises(vecaccel.Error, match="row 20"):
        index.reconstruct([20])
    with pytest.raises(ValueError, match="negative"):
        index.reconstruct([-1])


def test_stats_count_searches_queries_and_re_screens(context, rng):
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(np.zeros((50, 4), dtype=np.float32))  # all tied: certificates are tested hard
    before = index.stats()
    assert before == {
        "searches": 0,
        "queries": 0,
        "second_pass_queries": 0,
        "direct_pass_queries": 0,
    }
    index.search(rng.standard_normal((7, 4)).astype(np.float32), 3)
    index.search(rng.standard_normal((2, 4)).astype(np.float32), 3)
    after = index.stats()
    assert after["searches"] == 2 and after["queries"] == 9
    assert 0 <= after["second_pass_queries"] <= 9 and 0 <= after["direct_pass_queries"] <= 9
    index.range_search(rng.standard_normal((3, 4)).astype(np.float32), 1.0)
    vecaccel.knn(index, rng.standard_normal((4, 4)).astype(np.float32), 2)
    last = index.stats()
    assert last["searches"] == 4 and last["queries"] == 16


def test_device_bytes_grow_with_rows_and_go_with_reset(context):
    index = vecaccel.FlatIndex(8, "l2", context)
    assert index.device_bytes == 0
    index.add(np.ones((10, 8), dtype=np.float32))
    assert index.device_bytes >= 10 * 8 * 4
    index.reset()
    assert index.device_bytes == 0


def test_dlpack_inputs_are_taken_by_every_call_that_takes_an_array(context, rng, tmp_path):
    base = rng.integers(-3, 4, size=(40, 4)).astype(np.float32)
    queries = base[:5] + 0.5
    ids = np.arange(100, 140)
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add_with_ids(DLPackOnly(base), DLPackOnly(ids))
    D, I = index.search(DLPackOnly(queries), 3)
    D_ref, I_ref = reference_knn(base, queries, 3, "l2", labels=ids)
    np.testing.assert_array_equal(I, I_ref)
    assert index.remove_ids(DLPackOnly(np.array([100, 101]))) == 2
    np.testing.assert_array_equal(index.reconstruct(DLPackOnly(np.array([0]))), base[[2]])
    _, I = vecaccel.knn(DLPackOnly(base), DLPackOnly(queries), 3, context=context)
    np.testing.assert_array_equal(I, reference_knn(base, queries, 3, "l2")[1])
    _, G = vecaccel.knn_graph(DLPackOnly(base), 2, context=context)
    assert G.shape == (40, 2)
    small = vecaccel.FlatIndex(4, "l2", context, element_type="int8")
    small.add(DLPackOnly(base.astype(np.int8)))
    assert small.ntotal == 40
    vecaccel.write_vectors(tmp_path / "b.npy", DLPackOnly(base))
    vecaccel.write_ids(tmp_path / "i.ivecs", DLPackOnly(I))
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / "b.npy"), base)


def test_an_array_on_a_gpu_is_refused_naming_its_device(context):
    index = vecaccel.FlatIndex(4, "l2", context)
    with pytest.raises(ValueError, match="DLPack device type 2"):
        index.add(DLPackOnly(np.zeros((1, 4), dtype=np.float32), device=(2, 0)))
