// vecaccel._vecaccel: the Python binding of the C++ library.
//
// Thin by design (docs/architecture.md): it converts arrays (zero-copy where the input already is
// C-contiguous float32), releases the GIL while the library works, turns Ctrl-C into a stop
// request and vecaccel::Error into vecaccel.Error. Every decision about vectors is the
// library's. The user-facing documentation is in the docstrings and vecaccel/__init__.pyi.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "vecaccel/vecaccel.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace vecaccel::python {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IdArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

// The vecaccel.Error type. A bare handle on purpose: the module attribute owns it, and a
// static py::object would be released after the interpreter is gone.
py::handle error_type;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)
// threading.main_thread().ident: only that thread receives KeyboardInterrupt.
unsigned long main_thread_id = 0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

// ---- arrays in

std::string shape_of(const py::array& a) {
  return py::str(a.attr("shape")).cast<std::string>();
}

/// x as a C-contiguous float32 array: x itself when it already is one (no copy), else one
/// conversion. Objects that speak DLPack but are not NumPy arrays (PyTorch CPU tensors) go
/// through numpy.from_dlpack, which shares their memory.
FloatArray as_float32(py::handle x) {
  if (!py::isinstance<py::array>(x) && py::hasattr(x, "__dlpack__")) {
    return FloatArray(py::module_::import("numpy").attr("from_dlpack")(x));
  }
  return FloatArray(py::reinterpret_borrow<py::object>(x));
}

/// x as an n x dim float32 matrix; ValueError naming the expected shape otherwise. dim 0
/// accepts any width.
FloatArray as_rows(py::handle x, const char* name, std::size_t dim) {
  FloatArray a = as_float32(x);
  const std::string expected =
      std::string("(n, ") + (dim == 0 ? std::string("d") : std::to_string(dim)) + ")";
  if (a.ndim() != 2 || (dim != 0 && static_cast<std::size_t>(a.shape(1)) != dim)) {
    throw py::value_error(std::string(name) + " must have shape " + expected + ", got " +
                          shape_of(a));
  }
  return a;
}

/// x as int64 values. Only integer dtypes that int64 holds exactly are taken: a float or
/// uint64 id would be rounded or wrapped silently.
IdArray as_int64(py::handle x, const char* name) {
  const py::module_ numpy = py::module_::import("numpy");
  const py::array raw = numpy.attr("asarray")(x);
  const bool integer = raw.dtype().kind() == 'i' || raw.dtype().kind() == 'u';
  if (!integer || !numpy.attr("can_cast")(raw.dtype(), numpy.attr("int64")).cast<bool>()) {
    throw py::value_error(std::string(name) + " must be integers that fit int64, got dtype " +
                          py::str(raw.dtype()).cast<std::string>());
  }
  return IdArray(raw);
}

IdArray as_ids(py::handle ids, std::size_t n) {
  IdArray a = as_int64(ids, "ids");
  if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n) {
    throw py::value_error("ids must have shape (" + std::to_string(n) + ",), got " + shape_of(a));
  }
  return a;
}

template <class T, int Flags>
std::span<const T> span_of(const py::array_t<T, Flags>& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

/// An argument that must be an integer of at least `minimum` (an int or anything with
/// __index__, such as a NumPy integer); TypeError / ValueError naming the argument and the value
/// given.
std::size_t int_at_least(py::handle value, const char* name, int minimum) {
  const std::string given = py::repr(value).cast<std::string>();
  if (py::isinstance<py::bool_>(value) || !py::hasattr(value, "__index__")) {
    throw py::type_error(std::string(name) + " must be an integer, got " + given);
  }
  const py::int_ number = value.attr("__index__")();
  if (number < py::int_(minimum)) {
    throw py::value_error(std::string(name) + " must be at least " + std::to_string(minimum) +
                          ", got " + given);
  }
  return number.cast<std::size_t>();
}

std::size_t positive_int(py::handle value, const char* name) {
  return int_at_least(value, name, 1);
}

ExecuteOptions options_for(std::optional<double> timeout_s) {
  ExecuteOptions options;
  if (timeout_s) {
    // The upper bound keeps the deadline (now + timeout, in int64 nanoseconds) representable.
    constexpr double max_seconds = 1e9;
    if (!(*timeout_s >= 0 && *timeout_s <= max_seconds)) {
      throw py::value_error("timeout must be between 0 and 1e9 seconds, got " +
                            py::str(py::float_(*timeout_s)).cast<std::string>());
    }
    options.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(*timeout_s));
  }
  return options;
}

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

py::tuple to_numpy(KnnResult&& r) {
  const auto rows = static_cast<py::ssize_t>(r.rows);
  const auto k = static_cast<py::ssize_t>(r.k);
  return py::make_tuple(adopt(std::move(r.distances), {rows, k}),
                        adopt(std::move(r.labels), {rows, k}));
}

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

// ---- objects

py::dict device_dict(const DeviceInfo& d) {
  const Capabilities& c = d.capabilities;
  const auto version = [](std::uint32_t v) {
    return std::to_string(v >> 22U) + "." + std::to_string((v >> 12U) & 0x3ffU) + "." +
           std::to_string(v & 0xfffU);
  };
  return py::dict(
      "index"_a = d.index, "name"_a = d.name, "type"_a = std::string(to_string(d.type)),
      "driver"_a = d.driver_name + " " + d.driver_info, "vulkan"_a = version(c.api_version),
      "explicit_model"_a = d.supports_explicit_model,
      "device_local_bytes"_a = c.device_local_memory, "subgroup_size"_a = c.subgroup_size,
      "max_shared_memory_bytes"_a = c.max_shared_memory_bytes,
      "max_storage_buffer_range"_a = c.max_storage_buffer_range,
      "cooperative_matrix"_a = c.cooperative_matrix, "memory_priority"_a = c.memory_priority,
      "memory_budget"_a = c.memory_budget, "push_descriptor"_a = c.push_descriptor,
      "timeline_semaphore"_a = c.timeline_semaphore, "synchronization2"_a = c.synchronization2);
}

py::list devices() {
  const auto infos = without_gil([] { return Device::enumerate(); });
  py::list out;
  for (const DeviceInfo& d : infos)
    out.append(device_dict(d));
  return out;
}

py::dict info() {
  return py::dict("version"_a = VECACCEL_VERSION, "devices"_a = devices(),
                  "validation"_a = validation_enabled(),
                  "validation_messages"_a = validation_message_count());
}

std::shared_ptr<Context> make_context(std::optional<std::uint32_t> device, bool validation) {
  if (validation) {
    // The layer is chosen when the process's Vulkan instance is created (on first use), from
    // VECACCEL_VALIDATION; asking for it later than that cannot be honoured.
    request_validation_layer();
    if (!validation_enabled()) {
      throw Error(Errc::unsupported,
                  "validation=True: the Khronos validation layer is not active in this process "
                  "(it is chosen when vecaccel first opens Vulkan: set VECACCEL_VALIDATION=1 "
                  "before that, and install vulkan-validationlayers)");
    }
  }
  return without_gil([&] {
    if (device) return std::make_shared<Context>(Device::open(*device));
    return std::make_shared<Context>();
  });
}

/// The context used where none is given: created on first use, owned by the module (so it is
/// released with the interpreter, not after it), kept alive by every index made on it.
std::shared_ptr<Context> context_or_default(std::shared_ptr<Context> context) {
  if (context) return context;
  py::module_ module = py::module_::import("vecaccel._vecaccel");
  if (module.attr("_default_context").is_none()) {
    py::object made = py::cast(make_context(std::nullopt, false));  // releases the GIL
    if (module.attr("_default_context").is_none()) module.attr("_default_context") = made;
  }
  return module.attr("_default_context").cast<std::shared_ptr<Context>>();
}

py::dict stats_dict(const PerformanceStats& s) {
  const auto seconds = [](std::chrono::nanoseconds t) {
    return std::chrono::duration<double>(t).count();
  };
  return py::dict("operations"_a = s.operations, "completed"_a = s.completed,
                  "timeouts"_a = s.timeouts, "cancellations"_a = s.cancellations,
                  "encode_seconds"_a = seconds(s.total_encode_time));
}

/// A FlatIndex and the context it lives on (which must outlive it: it is declared first).
///
/// Workaround until the engine keeps an index's vectors alive for the GPU work that a stopped
/// or timed-out search leaves running (FlatIndex frees them on reset, growth and destruction
/// without waiting for it; a crash on lavapipe): after a search that ended early, the context's
/// queue is drained before the index changes or goes. Remove with the engine fix.
struct PyFlatIndex {
  PyFlatIndex(std::shared_ptr<Context> c, FlatIndex i)
      : context(std::move(c)), index(std::move(i)) {}
  PyFlatIndex(const PyFlatIndex&) = delete;
  PyFlatIndex& operator=(const PyFlatIndex&) = delete;
  ~PyFlatIndex() { drain_left_work(); }

  /// Waits for every submission so far (a timeline signal follows all earlier work).
  void drain_left_work() noexcept {
    if (!left_work.exchange(false)) return;
    ExecuteOptions options;
    options.timeout = std::chrono::hours(24);
    try {
      context->execute_and_wait([](CommandBuffer&, ComputeEncoder&) {}, options);
    } catch (const std::exception&) {  // device lost: nothing runs any more
    }
  }

  std::shared_ptr<Context> context;
  FlatIndex index;
  std::atomic<bool> left_work{false};
};

std::shared_ptr<PyFlatIndex> make_index(py::handle dim, const std::string& metric,
                                        std::shared_ptr<Context> context) {
  const std::size_t d = positive_int(dim, "dim");
  context = context_or_default(std::move(context));
  FlatIndex index(*context, d, parse_metric(metric));
  return std::make_shared<PyFlatIndex>(std::move(context), std::move(index));
}

void add(PyFlatIndex& self, py::handle x) {
  const FloatArray rows = as_rows(x, "x", self.index.dim());
  without_gil([&] {
    self.drain_left_work();
    self.index.add(span_of(rows));
  });
}

void add_with_ids(PyFlatIndex& self, py::handle x, py::handle ids) {
  const FloatArray rows = as_rows(x, "x", self.index.dim());
  const IdArray labels = as_ids(ids, static_cast<std::size_t>(rows.shape(0)));
  without_gil([&] {
    self.drain_left_work();
    self.index.add_with_ids(span_of(rows), span_of(labels));
  });
}

std::size_t remove_ids(PyFlatIndex& self, py::handle ids) {
  const IdArray labels = as_int64(ids, "ids");
  if (labels.ndim() != 1) throw py::value_error("ids must be 1-D, got shape " + shape_of(labels));
  return without_gil([&] {
    self.drain_left_work();
    return self.index.remove_ids(span_of(labels));
  });
}

py::tuple index_search(PyFlatIndex& self, py::handle q, py::handle k,
                       std::optional<double> timeout) {
  const FloatArray queries = as_rows(q, "queries", self.index.dim());
  const std::size_t kk = positive_int(k, "k");
  ExecuteOptions options = options_for(timeout);
  try {
    return to_numpy(interruptible([&](std::stop_token stop) {
      options.stop = std::move(stop);
      return self.index.search(span_of(queries), kk, options);
    }));
  } catch (...) {
    self.left_work = true;
    throw;
  }
}

/// The contexts of knn(devices=...): one per entry, the same index twice allowed. None: the
/// given context, else the default one.
std::vector<std::shared_ptr<Context>> contexts_for(const std::optional<py::list>& devices,
                                                   std::shared_ptr<Context> context) {
  if (!devices) return {context_or_default(std::move(context))};
  if (context) throw py::value_error("knn: give context or devices, not both");
  if (devices->empty()) throw py::value_error("knn: devices is an empty list");
  std::vector<std::uint32_t> indices;
  for (const py::handle device : *devices) {
    indices.push_back(static_cast<std::uint32_t>(int_at_least(device, "each of devices", 0)));
  }
  return without_gil([&] {
    std::vector<std::shared_ptr<Context>> out;
    for (const std::uint32_t index : indices)
      out.push_back(std::make_shared<Context>(Device::open(index)));
    return out;
  });
}

/// What knn searches: rows of an array, a mapped file (streamed when over the budget), or an
/// index's rows. Owns what the SearchBase views.
struct KnnBase {
  std::optional<FloatArray> rows;
  std::optional<MappedVectors> file;
  std::shared_ptr<PyFlatIndex> index;

  SearchBase view() const {
    if (index) return SearchBase(index->index);
    if (file) return SearchBase(*file);
    return SearchBase(MatrixView<const float>(span_of(*rows),
                                              static_cast<std::size_t>(rows->shape(0)),
                                              static_cast<std::size_t>(rows->shape(1))));
  }
};

KnnBase knn_base(py::handle base) {
  KnnBase out;
  if (py::isinstance<PyFlatIndex>(base)) {
    out.index = base.cast<std::shared_ptr<PyFlatIndex>>();
  } else if (py::isinstance<py::str>(base) ||
             py::isinstance(base, py::module_::import("os").attr("PathLike"))) {
    const auto path = base.cast<std::filesystem::path>();
    out.file.emplace(without_gil([&] { return MappedVectors(path); }));
  } else {
    out.rows = as_rows(base, "base", 0);
  }
  return out;
}

/// The library's planner (vecaccel/search.hpp): the base held or streamed on each device, the
/// devices' top k merged exactly. A FlatIndex base is searched on its own context.
py::tuple knn(py::handle base, py::handle q, py::handle k, const std::string& metric,
              std::shared_ptr<Context> context, std::optional<double> timeout,
              std::optional<py::list> devices, py::handle memory_budget) {
  const KnnBase rows = knn_base(base);
  const SearchBase view = rows.view();
  const FloatArray queries = as_rows(q, "queries", view.dim());
  const std::size_t kk = positive_int(k, "k");
  const Metric m = parse_metric(metric);
  SearchOptions options;
  options.timeout = options_for(timeout).timeout;
  if (!memory_budget.is_none())
    options.memory_budget = positive_int(memory_budget, "memory_budget");
  if (rows.index && (devices || context)) {
    throw py::value_error(
        "knn: a FlatIndex is searched on its own context; devices and context "
        "do not apply");
  }
  std::vector<std::shared_ptr<Context>> contexts;
  if (!rows.index) contexts = contexts_for(devices, std::move(context));
  std::vector<Context*> pointers;
  for (const auto& c : contexts)
    pointers.push_back(c.get());
  const MatrixView<const float> query_rows(span_of(queries),
                                           static_cast<std::size_t>(queries.shape(0)), view.dim());
  try {
    return to_numpy(interruptible([&](std::stop_token stop) {
      options.stop = std::move(stop);
      return vecaccel::search(pointers, view, query_rows, kk, m, options).knn;
    }));
  } catch (...) {
    if (rows.index) rows.index->left_work = true;
    throw;
  }
}

std::string index_repr(const PyFlatIndex& self) {
  return "vecaccel.FlatIndex(dim=" + std::to_string(self.index.dim()) + ", metric='" +
         std::string(to_string(self.index.metric())) +
         "', ntotal=" + std::to_string(self.index.size()) + ")";
}

void write_float_file(const std::filesystem::path& path, py::handle x) {
  const FloatArray a = as_rows(x, "array", 0);
  const Matrix<float> m{static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1)),
                        std::vector<float>(a.data(), a.data() + a.size())};
  without_gil([&] { write_vectors(path, m); });
}

/// Ids files hold int32: a value outside that range is refused, not wrapped.
void write_id_file(const std::filesystem::path& path, py::handle x) {
  const IdArray a = as_int64(x, "array");
  if (a.ndim() != 2) throw py::value_error("array must have shape (n, k), got " + shape_of(a));
  Matrix<std::int32_t> m{
      static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1)), {}};
  m.values.reserve(static_cast<std::size_t>(a.size()));
  for (const std::int64_t v : span_of(a)) {
    if (v < INT32_MIN || v > INT32_MAX) {
      const std::size_t i = m.values.size();
      throw py::value_error("array[" + std::to_string(i / m.dim) + ", " +
                            std::to_string(i % m.dim) + "] = " + std::to_string(v) +
                            " does not fit the int32 of an ids file");
    }
    m.values.push_back(static_cast<std::int32_t>(v));
  }
  without_gil([&] { write_ids(path, m); });
}

// By value: pybind11's translator type is void (*)(std::exception_ptr).
void translate_errors(std::exception_ptr p) {  // NOLINT(performance-unnecessary-value-param)
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Error& e) {
    py::object error = error_type(e.what());
    error.attr("code") = std::string(to_string(e.code()));
    PyErr_SetObject(error_type.ptr(), error.ptr());
  }
}

}  // namespace
}  // namespace vecaccel::python

using namespace vecaccel;          // NOLINT(google-build-using-namespace)
using namespace vecaccel::python;  // NOLINT(google-build-using-namespace)

PYBIND11_MODULE(_vecaccel, m) {
  m.doc() = "Binding of the vecaccel C++ library; import the `vecaccel` package instead.";
  main_thread_id =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  py::object error = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "vecaccel.Error",
      "A failure reported by the vecaccel library. `code` is the Errc name, e.g. "
      "'invalid_argument', 'timeout', 'cancelled', 'io_error'; str() is '<code>: <message>'.",
      PyExc_RuntimeError, nullptr));
  if (!error) throw py::error_already_set();
  error.attr("code") = py::none();
  m.attr("Error") = error;
  error_type = error;
  py::register_exception_translator(&translate_errors);

  m.attr("__version__") = VECACCEL_VERSION;
  m.attr("_default_context") = py::none();

  m.def("devices", &devices,
        "Every Vulkan device visible to this process, as dicts (index, name, type, driver, "
        "vulkan, explicit_model, memory and feature fields).");
  m.def("info", &info,
        "Library version, devices(), and whether the Khronos validation layer is active "
        "(with the count of messages it has reported in this process).");

  py::class_<Context, std::shared_ptr<Context>>(
      m, "Context",
      "A GPU compute context: one device, its queue, buffer pool and residency set.\n\n"
      "device: index into devices(), or None for the best one (VECACCEL_DEVICE=<index|name> "
      "overrides). validation: require the Khronos validation layer (it must be chosen before "
      "vecaccel first opens Vulkan; else vecaccel.Error 'unsupported'). Thread-safe; indexes "
      "keep their context alive.")
      .def(py::init(&make_context), "device"_a = py::none(), "validation"_a = false)
      .def_property_readonly(
          "device", [](const Context& c) { return device_dict(c.device().info()); },
          "The device's description, as in devices().")
      .def(
          "stats", [](const Context& c) { return stats_dict(c.performance_stats()); },
          "Operation counters: operations, completed, timeouts, cancellations, encode_seconds.")
      .def("__repr__", [](const Context& c) {
        return "vecaccel.Context(device=" + std::to_string(c.device().info().index) + ", name='" +
               c.device().info().name + "')";
      });

  py::class_<PyFlatIndex, std::shared_ptr<PyFlatIndex>>(
      m, "FlatIndex",
      "Exact k-nearest-neighbour search over vectors kept on the GPU (like faiss.IndexFlat).\n\n"
      "metric: 'l2' (squared Euclidean), 'l1' (sum of |q - x|) or 'linf' (largest |q - x|), "
      "distances, smaller is better; 'ip' / 'inner_product' or 'cosine' (similarities, larger "
      "is better); in any case. context: a Context, or None for a shared "
      "default. Searches may run from many threads at once; add/reset/save wait for the searches "
      "already running (new searches wait behind them).")
      .def(py::init(&make_index), "dim"_a, "metric"_a = "l2", "context"_a = nullptr)
      .def("add", &add, "x"_a,
           "Appends the rows of x, shape (n, dim); they are numbered ntotal, ntotal + 1, ...")
      .def("add_with_ids", &add_with_ids, "x"_a, "ids"_a,
           "Appends the rows of x, shape (n, dim), labelled by ids, shape (n,), integers.")
      .def("remove_ids", &remove_ids, "ids"_a,
           "Removes the rows labelled by ids (a 1-D integer array; labels not in the index are "
           "ignored) and returns how many went. The others keep their labels; add() numbers on "
           "as if nothing had been removed.")
      .def("search", &index_search, "queries"_a, "k"_a, "timeout"_a = py::none(),
           "The k nearest rows of each query: (D, I), float32 and int64 arrays of shape "
           "(nq, k), best first, ties by label. Rows with fewer than k candidates are padded "
           "with label -1 and distance +inf (l2, l1, linf) or -inf. timeout in seconds (None: no "
           "limit; "
           "the error names the limit when it fires); Ctrl-C stops the search and leaves the index "
           "usable.")
      .def_property_readonly(
          "ntotal", [](const PyFlatIndex& s) { return s.index.size(); }, "Number of vectors.")
      .def("__len__", [](const PyFlatIndex& s) { return s.index.size(); })
      .def_property_readonly(
          "dim", [](const PyFlatIndex& s) { return s.index.dim(); }, "Vector dimension.")
      .def_property_readonly(
          "d", [](const PyFlatIndex& s) { return s.index.dim(); },
          "Vector dimension (FAISS's name).")
      .def_property_readonly(
          "is_trained", [](const PyFlatIndex&) { return true; },
          "Always True: an exact flat index needs no training (FAISS's flag).")
      .def_property_readonly(
          "metric", [](const PyFlatIndex& s) { return std::string(to_string(s.index.metric())); },
          "'l2', 'inner_product', 'cosine', 'l1' or 'linf'.")
      .def_property_readonly(
          "context", [](const PyFlatIndex& s) { return s.context; }, "The index's Context.")
      .def(
          "reset",
          [](PyFlatIndex& s) {
            without_gil([&] {
              s.drain_left_work();
              s.index.reset();
            });
          },
          "Removes every vector.")
      .def(
          "save",
          [](const PyFlatIndex& s, const std::filesystem::path& path) {
            without_gil([&] { s.index.save(path); });
          },
          "path"_a, "Writes the index to path (versioned, checksummed; replaced atomically).")
      .def_static(
          "load",
          [](const std::filesystem::path& path, std::shared_ptr<Context> context) {
            context = context_or_default(std::move(context));
            FlatIndex index = without_gil([&] { return FlatIndex::load(*context, path); });
            return std::make_shared<PyFlatIndex>(std::move(context), std::move(index));
          },
          "path"_a, "context"_a = nullptr, "Reads an index written by save().")
      .def("__repr__", &index_repr);

  m.def("knn", &knn, "base"_a, "queries"_a, "k"_a, "metric"_a = "l2", "context"_a = nullptr,
        "timeout"_a = py::none(), "devices"_a = py::none(), "memory_budget"_a = py::none(),
        "Exact kNN of queries (nq, d) against base without keeping an index: (D, I) as "
        "FlatIndex.search, labels are base row numbers (a FlatIndex's own labels).\n\n"
        "base: an array (n, d), a FlatIndex (searched on its context), or the path of a vector "
        "file (.fvecs, .bvecs, .npy, .fbin, .u8bin, .i8bin), memory-mapped and streamed through "
        "the GPU in passes when it exceeds the memory budget. devices: indices into devices() "
        "(the same index twice allowed); the base is split over them and their top k merged "
        "exactly (None: context, else the default one). memory_budget: bytes each device may "
        "use (None: VECACCEL_MEMORY_BUDGET, else the device's free memory); a base over it is "
        "streamed. A timed-out or interrupted call returns once the GPU work it already "
        "submitted is done.");

  m.def(
      "read_vectors",
      [](const std::filesystem::path& path) {
        return to_numpy(without_gil([&] { return read_vectors(path); }));
      },
      "path"_a,
      "Reads a float32 (n, d) array from .fvecs, .bvecs, .ivecs (converted to float) or .npy "
      "('<f4', C order), the formats the vecaccel CLI reads.");
  m.def("write_vectors", &write_float_file, "path"_a, "array"_a,
        "Writes a (n, d) array as float32 to .fvecs, .fbin or .npy, chosen by the extension "
        "(atomically: the old file stays on any failure).");
  m.def(
      "read_ids",
      [](const std::filesystem::path& path) {
        return to_numpy(without_gil([&] { return read_ids(path); }));
      },
      "path"_a, "Reads an int32 (n, k) array (e.g. ground truth) from .ivecs or .npy.");
  m.def("write_ids", &write_id_file, "path"_a, "array"_a,
        "Writes a (n, k) array as int32 to .ivecs or .npy.");

  m.def("_as_float32", &as_float32, "x"_a,
        "The float32 C-contiguous array searches read x through (x itself when no conversion "
        "is needed). For tests.");
}
