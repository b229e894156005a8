"""save/load and the vector file helpers (the formats the CLI reads)."""

import numpy as np
import pytest

import vecaccel


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_save_load_round_trip_gives_the_same_index(context, rng, tmp_path, metric):
    base = rng.standard_normal((500, 20)).astype(np.float32)
    ids = rng.permutation(10_000)[:500].astype(np.int64)
    index = vecaccel.FlatIndex(20, metric, context)
    index.add_with_ids(base, ids)
    path = tmp_path / "base.vecaflat"
    index.save(path)
    loaded = vecaccel.FlatIndex.load(str(path), context)
    assert (loaded.ntotal, loaded.dim, loaded.metric) == (500, 20, index.metric)
    queries = rng.standard_normal((10, 20)).astype(np.float32)
    for got, want in zip(loaded.search(queries, 7), index.search(queries, 7)):
        np.testing.assert_array_equal(got, want)


def test_loading_a_corrupt_index_is_an_io_error(context, tmp_path):
    path = tmp_path / "bad.vecaflat"
    index = vecaccel.FlatIndex(4, "l2", context)
    index.add(np.ones((3, 4), np.float32))
    index.save(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(vecaccel.Error) as error:
        vecaccel.FlatIndex.load(path, context)
    assert error.value.code == "io_error" and str(path) in str(error.value)


@pytest.mark.parametrize("suffix", [".fvecs", ".npy"])
def test_write_then_read_vectors_round_trip(rng, tmp_path, suffix):
    x = rng.standard_normal((7, 5)).astype(np.float32)
    path = tmp_path / f"x{suffix}"
    vecaccel.write_vectors(path, x)
    y = vecaccel.read_vectors(path)
    assert y.dtype == np.float32 and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x)


def test_npy_written_by_vecaccel_reads_in_numpy_and_back(rng, tmp_path):
    x = rng.standard_normal((3, 4))  # float64: converted to float32 once
    vecaccel.write_vectors(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), x.astype(np.float32))
    np.save(tmp_path / "y.npy", x.astype(np.float32)[::-1])
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / "y.npy"), x.astype(np.float32)[::-1])


def test_bvecs_and_ivecs_read_as_float(tmp_path):
    rows = [np.array([1, 2, 3], np.uint8), np.array([250, 0, 7], np.uint8)]
    with open(tmp_path / "x.bvecs", "wb") as f:
        for r in rows:
            f.write(np.int32(3).tobytes() + r.tobytes())
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / "x.bvecs"), np.array(rows, np.float32))
    vecaccel.write_ids(tmp_path / "gt.ivecs", np.array([[1, -2], [3, 4]]))
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / "gt.ivecs"), [[1, -2], [3, 4]])
    ids = vecaccel.read_ids(tmp_path / "gt.ivecs")
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [[1, -2], [3, 4]])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_byte_npy_reads_with_its_own_dtype_and_other_formats_as_float32(tmp_path, dtype):
    info = np.iinfo(dtype)
    x = np.array([[info.min, 0, 1], [7, info.max - 1, info.max]], dtype)
    np.save(tmp_path / "x.npy", x)
    y = vecaccel.read_vectors(tmp_path / "x.npy")
    assert y.dtype == dtype and y.flags.c_contiguous
    np.testing.assert_array_equal(y, x)
    np.save(tmp_path / "row.npy", x[0])  # 1-D: one row
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / "row.npy"), x[:1])
    suffix = ".u8bin" if dtype == np.uint8 else ".i8bin"
    with open(tmp_path / f"x{suffix}", "wb") as f:
        f.write(np.array(x.shape, np.int32).tobytes() + x.tobytes())
    y = vecaccel.read_vectors(tmp_path / f"x{suffix}")  # as the CLI reads a query file
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))


def test_read_vectors_names_an_npy_dtype_it_cannot_read(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 2), np.float64))
    with pytest.raises(vecaccel.Error, match=r"x\.npy: dtype '<f8' unsupported, need '<f4', '\|u1' or '\|i1'"):
        vecaccel.read_vectors(tmp_path / "x.npy")


@pytest.mark.parametrize("suffix", [".fvecs", ".fbin", ".npy"])
def test_write_vectors_writes_every_documented_format(tmp_path, suffix):
    x = np.arange(6, dtype=np.float64).reshape(2, 3) / 4
    vecaccel.write_vectors(tmp_path / f"x{suffix}", x)
    np.testing.assert_array_equal(vecaccel.read_vectors(tmp_path / f"x{suffix}"), x.astype(np.float32))
    if suffix == ".fbin":
        raw = np.fromfile(tmp_path / "x.fbin", np.int32, count=2)
        assert list(raw) == [2, 3]


def test_ids_outside_int32_are_refused_and_the_file_untouched(tmp_path):
    path = tmp_path / "gt.ivecs"
    vecaccel.write_ids(path, np.array([[1, 2]]))
    with pytest.raises(ValueError, match=r"array\[1, 0\] = 2147483648 does not fit"):
        vecaccel.write_ids(path, np.array([[1, 2], [2**31, 0]]))
    np.testing.assert_array_equal(vecaccel.read_ids(path), [[1, 2]])


def test_file_errors_are_vecaccel_errors(tmp_path):
    with pytest.raises(vecaccel.Error) as error:
        vecaccel.read_vectors(tmp_path / "missing.fvecs")
    assert error.value.code == "io_error"
    with pytest.raises(vecaccel.Error) as error:
        vecaccel.write_vectors(tmp_path / "x.csv", np.zeros((1, 2)))
    assert error.value.code == "invalid_argument"
    with pytest.raises(ValueError, match=r"array must have shape \(n, d\), got \(3,\)"):
        vecaccel.write_vectors(tmp_path / "x.npy", np.zeros(3))
