"""Filtered and range search from Python: exact against the float64 reference over the allowed
rows, and range-search membership equal to faiss's where float32 rounding cannot differ."""

import numpy as np
import pytest

import vecaccel

from reference import reference_knn


def _integers(n, d, seed):
    return np.random.default_rng(seed).integers(-3, 4, size=(n, d)).astype(np.float32)


BASE = _integers(500, 8, 1)
QUERIES = _integers(4, 8, 2)


def _expected(filter_ids, k, metric="l2"):
    rows = np.asarray(sorted(filter_ids), dtype=np.int64)
    return reference_knn(BASE[rows], QUERIES, k, "ip" if metric == "ip" else metric, labels=rows)


@pytest.mark.parametrize("ids", [np.arange(3, 500, 41), np.arange(0, 500, 2)[::-1]])
def test_index_search_with_an_id_array_filter_is_exact_over_the_allowed_rows(ids):
    index = vecaccel.FlatIndex(8)
    index.add(BASE)
    D, I = index.search(QUERIES, 20, filter=ids)
    want_D, want_I = _expected(ids, 20)
    np.testing.assert_array_equal(I, want_I)
    np.testing.assert_array_equal(D, want_D.astype(np.float32))


def test_bool_filter_shorter_than_the_index_allows_nothing_past_its_end():
    mask = np.zeros(300, dtype=bool)
    mask[::3] = True
    D, I = vecaccel.knn(BASE, QUERIES, 10, filter=mask)
    assert I.max() < 300
    want_D, want_I = _expected(np.flatnonzero(mask), 10)
    np.testing.assert_array_equal(I, want_I)


def test_a_bool_filter_allows_exactly_its_true_entries_whatever_their_bytes():
    # A view of bytes as bool (np.frombuffer, uint8.view(bool), C buffers) holds values other
    # than 0 and 1: numpy reads any nonzero byte as True, and so must the filter.
    raw = np.zeros(500, dtype=np.uint8)
    raw[[3, 70, 71]] = [255, 2, 1]
    allowed = raw.view(bool)
    D, I = vecaccel.knn(BASE, QUERIES, 5, filter=allowed)
    eD, eI = _expected([3, 70, 71], 5)
    np.testing.assert_array_equal(I, eI)
    index = vecaccel.FlatIndex(8)
    index.add(BASE)
    np.testing.assert_array_equal(index.search(QUERIES, 5, filter=allowed)[1], eI)


def test_a_bool_filter_of_more_than_one_dimension_is_named_as_such():
    with pytest.raises(ValueError, match=r"filter must be 1-D, got shape \(2, 250\)"):
        vecaccel.knn(BASE, QUERIES, 5, filter=np.ones((2, 250), dtype=bool))


def test_fewer_allowed_rows_than_k_pads_with_minus_one():
    index = vecaccel.FlatIndex(8, "ip")
    index.add(BASE)
    D, I = index.search(QUERIES, 5, filter=np.array([7, 9, 100000]))
    assert (I[:, 2:] == -1).all() and np.isneginf(D[:, 2:]).all()


def _reference_range(radius, metric):
    lims, D, I = [0], [], []
    for q in QUERIES.astype(np.float64):
        x = BASE.astype(np.float64)
        v = ((x - q) ** 2).sum(1) if metric == "l2" else x @ q
        keep = np.flatnonzero(v < radius) if metric == "l2" else np.flatnonzero(v > radius)
        order = sorted(keep, key=lambda r: ((v[r] if metric == "l2" else -v[r]), r))
        D += [v[r] for r in order]
        I += order
        lims.append(len(I))
    return np.array(lims), np.array(D, dtype=np.float32), np.array(I, dtype=np.int64)


@pytest.mark.parametrize("metric,radius", [("l2", 20.0), ("l2", 20.5), ("ip", 3.0), ("ip", 3.5)])
def test_range_search_equals_the_float64_reference(metric, radius):
    index = vecaccel.FlatIndex(8, metric)
    index.add(BASE)
    lims, D, I = index.range_search(QUERIES, radius)
    assert lims.dtype == np.int64 and D.dtype == np.float32 and I.dtype == np.int64
    for got, want in zip((lims, D, I), _reference_range(radius, metric)):
        np.testing.assert_array_equal(got, want)
    streamed = vecaccel.range_search(BASE, QUERIES, radius, metric, memory_budget=4096)
    for got, want in zip(streamed, (lims, D, I)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_range_search_membership_equals_faiss_halfway_between_integers(metric):
    faiss = pytest.importorskip("faiss")
    radius = 20.5 if metric == "l2" else 3.5
    ref = faiss.IndexFlatL2(8) if metric == "l2" else faiss.IndexFlatIP(8)
    ref.add(BASE)
    f_lims, _, f_I = ref.range_search(QUERIES, radius)
    lims, _, I = vecaccel.range_search(BASE, QUERIES, radius, metric)
    np.testing.assert_array_equal(lims, f_lims)
    for q in range(len(QUERIES)):
        assert sorted(I[lims[q]:lims[q + 1]]) == sorted(f_I[f_lims[q]:f_lims[q + 1]])


def test_range_search_over_max_results_names_the_count():
    with pytest.raises(vecaccel.Error, match="max_results = 5"):
        vecaccel.range_search(BASE, QUERIES, 1e9, max_results=5)
