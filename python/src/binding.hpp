#pragma once
// What the parts of the vecaccel._vecaccel binding share: array conversions in and out, and
// running library calls without the GIL (interruptible by Ctrl-C on the main thread).

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vecaccel/vecaccel.hpp"

namespace vecaccel::python {

namespace py = pybind11;

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

/// threading.main_thread().ident: only that thread receives KeyboardInterrupt (set once, when
/// the module is imported).
extern unsigned long main_thread_id;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

// ---- arrays in

std::string shape_of(const py::array& a);

/// x as a NumPy array (or x itself, for NumPy to convert): objects that speak DLPack but are
/// not NumPy arrays (PyTorch CPU tensors) go through numpy.from_dlpack, which shares their
/// memory; one on another device than the CPU is a ValueError naming `name` and the device.
py::object as_numpy(py::handle x, const char* name);

/// x as a C-contiguous float32 array: x itself when it already is one (no copy), else one
/// conversion.
FloatArray as_float32(py::handle x, const char* name = "array");

/// x as an n x dim float32 matrix; ValueError naming the expected shape otherwise. dim 0
/// accepts any width.
FloatArray as_rows(py::handle x, const char* name, std::size_t dim);

/// x as an n x dim matrix of T (uint8 or int8), C-contiguous: x itself when it already is one;
/// other integer arrays whose values all fit T are converted; anything else (floats, a value
/// out of T's range) is a ValueError naming `name`, the dtype or the value.
template <class T>
py::array_t<T, py::array::c_style> as_byte_rows(py::handle x, const char* name, std::size_t dim);

/// x as int64 values. Only integer dtypes that int64 holds exactly are taken: a float or
/// uint64 id would be rounded or wrapped silently.
IdArray as_int64(py::handle x, const char* name);

IdArray as_ids(py::handle ids, std::size_t n);

template <class T, int Flags>
std::span<const T> span_of(const py::array_t<T, Flags>& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

/// An argument that must be an integer of at least `minimum` (an int or anything with
/// __index__, such as a NumPy integer); TypeError / ValueError naming the argument and the value
/// given.
std::size_t int_at_least(py::handle value, const char* name, int minimum);

std::size_t positive_int(py::handle value, const char* name);

ExecuteOptions options_for(std::optional<double> timeout_s);

// ---- arrays out

/// A NumPy array over `values`, which it then owns: results are handed over, not copied.
template <class T>
py::array_t<T> adopt(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  auto owned = std::make_unique<std::vector<T>>(std::move(values));
  py::capsule owner(owned.get(), [](void* p) {
    std::default_delete<std::vector<T>>()(static_cast<std::vector<T>*>(p));
  });
  std::vector<T>& v = *owned.release();  // the capsule deletes it with the array
  return py::array_t<T>(std::move(shape), v.data(), owner);
}

py::tuple to_numpy(KnnResult&& r);

template <class T>
py::array_t<T> to_numpy(Matrix<T>&& m) {
  return adopt(std::move(m.values),
               {static_cast<py::ssize_t>(m.rows), static_cast<py::ssize_t>(m.dim)});
}

// ---- running library calls

/// Runs work(stop) without the GIL. On the main thread it runs on a worker while this thread
/// checks for signals every 50 ms: a KeyboardInterrupt (or any exception from a signal
/// handler) requests stop, waits for the worker to give up, and is raised here. Other threads
/// never see signals, so they run work directly.
template <class Work>
auto interruptible(Work&& work) -> decltype(work(std::stop_token{})) {
  using Result = decltype(work(std::stop_token{}));
  if (PyThread_get_thread_ident() != main_thread_id) {
    py::gil_scoped_release release;
    return work(std::stop_token{});
  }
  std::optional<Result> result;
  std::exception_ptr failure;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  std::jthread worker([&](std::stop_token stop) {
    try {
      result.emplace(work(std::move(stop)));
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard lock(mutex);
    done = true;
    finished.notify_one();
  });
  const auto wait_done = [&](std::chrono::milliseconds limit) {
    py::gil_scoped_release release;
    std::unique_lock lock(mutex);
    return finished.wait_for(lock, limit, [&] { return done; });
  };
  while (!wait_done(std::chrono::milliseconds(50))) {
    if (PyErr_CheckSignals() == 0) continue;
    py::error_already_set interrupt;  // takes the pending KeyboardInterrupt off the thread
    worker.request_stop();
    {
      py::gil_scoped_release release;
      worker.join();
    }
    // Say how far the library got (its cancelled error names the queries done).
    if (failure && py::hasattr(interrupt.value(), "add_note")) {
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        interrupt.value().attr("add_note")(std::string("vecaccel: ") + e.what());
      }
    }
    throw std::move(interrupt);
  }
  // A Ctrl-C in the last wait, as the work ended, is raised from this call, not at some later
  // point of the caller's code.
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

template <class Work>
auto without_gil(Work&& work) {
  py::gil_scoped_release release;
  return work();
}

}  // namespace vecaccel::python
