"""ann-benchmarks HDF5 files from Python: read_vectors / read_ids of 'f.hdf5:name' and knn over
a file's `train`. The files are written with the HDF5 C library through ctypes (h5py is not a
dependency)."""

import ctypes
import ctypes.util

import numpy as np
import pytest

import vecaccel
from reference import reference_knn


def _library():
    for name in ("hdf5_serial", "hdf5"):
        path = ctypes.util.find_library(name)
        if path:
            return ctypes.CDLL(path)
    return None


hdf5 = _library()
pytestmark = pytest.mark.skipif(
    hdf5 is None or not vecaccel.info()["hdf5"], reason="vecaccel built without HDF5"
)


def write_hdf5(path, datasets):
    """Writes 2-D float32 / int32 arrays as datasets of a new file."""
    hid = ctypes.c_int64
    hdf5.H5open()
    hdf5.H5Fcreate.restype = hid
    hdf5.H5Screate_simple.restype = hid
    hdf5.H5Dcreate2.restype = hid
    types = {
        np.dtype(np.float32): hid.in_dll(hdf5, "H5T_NATIVE_FLOAT_g").value,
        np.dtype(np.int32): hid.in_dll(hdf5, "H5T_NATIVE_INT_g").value,
    }
    default = hid(0)
    file = hdf5.H5Fcreate(str(path).encode(), 2, default, default)  # H5F_ACC_TRUNC
    for name, array in datasets.items():
        array = np.ascontiguousarray(array)
        extent = (ctypes.c_uint64 * 2)(*array.shape)
        space = hdf5.H5Screate_simple(2, extent, None)
        data_type = hid(types[array.dtype])
        dataset = hdf5.H5Dcreate2(hid(file), name.encode(), data_type, hid(space), default, default, default)
        hdf5.H5Dwrite(hid(dataset), data_type, default, default, default, array.ctypes.data_as(ctypes.c_void_p))
        hdf5.H5Dclose(hid(dataset))
        hdf5.H5Sclose(hid(space))
    hdf5.H5Fclose(hid(file))


def test_datasets_are_read_by_name_and_searched(context, rng, tmp_path):
    train = rng.integers(-3, 4, size=(80, 6)).astype(np.float32)
    test = rng.integers(-3, 4, size=(7, 6)).astype(np.float32)
    _, I = reference_knn(train, test, 5, "l2")
    path = tmp_path / "small.hdf5"
    write_hdf5(path, {"train": train, "test": test, "neighbors": I.astype(np.int32)})
    np.testing.assert_array_equal(vecaccel.read_vectors(path), train)
    np.testing.assert_array_equal(vecaccel.read_vectors(f"{path}:test"), test)
    np.testing.assert_array_equal(vecaccel.read_ids(path), I)
    D, found = vecaccel.knn(f"{path}:train", test, 5, context=context)
    np.testing.assert_array_equal(found, I)
    with pytest.raises(vecaccel.Error, match="no dataset 'nope'"):
        vecaccel.read_vectors(f"{path}:nope")
