"""The same (D, I) as faiss.IndexFlatL2 / IndexFlatIP (Debian python3-faiss, CPU) on data where
FAISS is exact: small integers, whose float32 sums and products carry no rounding."""

import numpy as np
import pytest

import vecaccel

faiss = pytest.importorskip("faiss")

PEERS = {"l2": lambda d: faiss.IndexFlatL2(d), "ip": lambda d: faiss.IndexFlatIP(d)}


def distinct_neighbours(D_row):
    """Positions whose distance no other position in the row shares: FAISS orders ties its
    own way, so only these labels are comparable."""
    values, counts = np.unique(D_row, return_counts=True)
    unique = set(values[counts == 1])
    return np.array([d in unique for d in D_row])


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("nq", [5, 64])  # FAISS takes its sequential path below 20 queries, BLAS above
def test_same_results_as_faiss_flat_index(context, metric, nq):
    rng = np.random.default_rng(5)
    base = rng.integers(-20, 21, size=(2000, 24)).astype(np.float32)
    queries = rng.integers(-20, 21, size=(nq, 24)).astype(np.float32)
    peer = PEERS[metric](24)
    peer.add(base)
    D_faiss, I_faiss = peer.search(queries, 10)
    index = vecaccel.FlatIndex(24, metric, context)
    index.add(base)
    D, I = index.search(queries, 10)
    np.testing.assert_array_equal(D, D_faiss)
    for row in range(nq):
        keep = distinct_neighbours(D_faiss[row])
        np.testing.assert_array_equal(I[row][keep], I_faiss[row][keep])


def test_padding_matches_faiss_for_k_above_ntotal(context):
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    peer = faiss.IndexFlatL2(4)
    peer.add(base)
    D_faiss, I_faiss = peer.search(base[:1], 5)
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(base)
    D, I = index.search(base[:1], 5)
    np.testing.assert_array_equal(I, I_faiss)
    np.testing.assert_array_equal(D[:, :3], D_faiss[:, :3])
    # FAISS pads distances with float max, vecaccel (like the C++ KnnResult) with +inf.
    assert (D_faiss[:, 3:] == np.finfo(np.float32).max).all() and (D[:, 3:] == np.inf).all()
