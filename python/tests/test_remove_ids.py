"""FlatIndex.remove_ids: removed rows never come back, the others keep their labels."""

import numpy as np
import pytest

import vecaccel
from reference import reference_knn


def test_remove_ids_keeps_labels_and_search_stays_exact(context, rng):
    base = rng.integers(-3, 4, size=(500, 10)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(20, 10)).astype(np.float32)
    index = vecaccel.FlatIndex(10, "l2", context)
    index.add(base)
    removed = np.concatenate([np.arange(0, 500, 4), np.arange(200, 260), [10_000, -3]])
    count = index.remove_ids(removed)
    kept = np.setdiff1d(np.arange(500), removed)
    assert isinstance(count, int) and count == 500 - len(kept)
    assert index.ntotal == len(kept)
    D, I = index.search(queries, 15)
    D_ref, I_ref = reference_knn(base[kept], queries, 15, "l2", labels=kept)
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_array_equal(D, D_ref.astype(np.float32))
    assert not np.isin(I, removed).any()


def test_add_after_remove_numbers_on_and_save_load_keeps_it(context, rng, tmp_path):
    base = rng.standard_normal((12, 4)).astype(np.float32)
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(base[:10])
    assert index.remove_ids(np.array([8, 9], dtype=np.uint32)) == 2
    index.save(tmp_path / "index.vfi")
    loaded = vecaccel.FlatIndex.load(tmp_path / "index.vfi", context)
    for each in (index, loaded):
        each.add(base[10:])
        _, I = each.search(base[10:], 1)
        assert I[:, 0].tolist() == [10, 11]


def test_remove_ids_refuses_what_is_not_a_1d_integer_array(context):
    index = vecaccel.FlatIndex(4, "l2", context)
    with pytest.raises(ValueError, match="integers"):
        index.remove_ids(np.array([1.5]))
    with pytest.raises(ValueError, match="1-D"):
        index.remove_ids(np.zeros((2, 2), dtype=np.int64))
