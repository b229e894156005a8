"""No reference or memory leaks over many searches."""

import gc
import sys

import numpy as np
import pytest

import vecaccel


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.fixture
def index(context):
    index = vecaccel.FlatIndex(8, "l2", context)
    index.add(np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32))
    return index


def test_a_thousand_searches_leak_no_references_or_objects(context, index):
    queries = np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32)
    for _ in range(20):  # warm the pool and the allocator
        index.search(queries, 8)
    gc.collect()
    refs = (sys.getrefcount(queries), sys.getrefcount(index), sys.getrefcount(context))
    objects = len(gc.get_objects())
    rss = resident_bytes()
    for _ in range(1000):
        D, I = index.search(queries, 8)
        # Only D / I refer to the results, and only the results to their owners (counted
        # outside `assert`, whose rewriting by pytest holds references of its own).
        counts = [sys.getrefcount(D), sys.getrefcount(I), sys.getrefcount(D.base), sys.getrefcount(I.base)]
        assert counts == [2, 2, 2, 2]
    del D, I
    gc.collect()
    assert (sys.getrefcount(queries), sys.getrefcount(index), sys.getrefcount(context)) == refs
    assert len(gc.get_objects()) - objects < 50
    assert resident_bytes() - rss < 8 << 20


def test_results_are_freed_with_their_arrays(index):
    # k = 2048 over 300 vectors: 96 KiB of (mostly padding) results a search, 19 MiB over 200.
    queries = np.zeros((4, 8), np.float32)
    for _ in range(10):
        index.search(queries, 2048)
    rss = resident_bytes()
    for _ in range(200):
        D, I = index.search(queries, 2048)
        assert I[0, 300] == -1
    assert resident_bytes() - rss < 6 << 20
