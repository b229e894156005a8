// vecaccel._vecaccel: the Python binding of the C++ library.
//
// Thin by design (docs/architecture.md): it converts arrays (zero-copy where the input already is
// C-contiguous float32), releases the GIL while the library works, turns Ctrl-C into a stop
// request and vecaccel::Error into vecaccel.Error. Every decision about vectors is the
// library's. The user-facing documentation is in the docstrings and vecaccel/__init__.pyi.

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "binding.hpp"
#include "vecaccel/vecaccel.hpp"

using namespace pybind11::literals;

namespace vecaccel::python {

unsigned long main_thread_id = 0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

namespace {

// The vecaccel.Error type. A bare handle on purpose: the module attribute owns it, and a
// static py::object would be released after the interpreter is gone.
py::handle error_type;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

/// filter=: a 1-D integer array of allowed ids, or a 1-D bool array indexed by id.
std::optional<IdFilter> as_filter(py::handle filter) {
  if (filter.is_none()) return std::nullopt;
  const py::array raw = py::array::ensure(filter);
  if (raw && raw.dtype().kind() == 'b') {
    if (raw.ndim() != 1) throw py::value_error("filter must be 1-D, got shape " + shape_of(raw));
    const auto bits = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(raw);
    return IdFilter::bitset(span_of(bits));
  }
  const IdArray ids = as_int64(filter, "filter");
  if (ids.ndim() != 1) throw py::value_error("filter must be 1-D, got shape " + shape_of(ids));
  return IdFilter::allow(span_of(ids));
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
                  "validation"_a = validation_enabled(), "hdf5"_a = hdf5_supported(),
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

  /// Counts a search's queries and re-screens into stats().
  void count(const KnnResult& result) noexcept {
    count_queries(result.rows);
    second_pass_queries += result.second_pass_queries;
    direct_pass_queries += result.direct_pass_queries;
  }
  /// A range search's (its re-checks are not re-screens).
  void count_queries(std::size_t rows) noexcept {
    searches += 1;
    queries += rows;
  }

  std::shared_ptr<Context> context;
  FlatIndex index;
  std::atomic<bool> left_work{false};
  std::atomic<std::size_t> searches{0}, queries{0}, second_pass_queries{0}, direct_pass_queries{0};
};

ElementType parse_element_type(const std::string& name) {
  for (const ElementType type : {ElementType::float32, ElementType::uint8, ElementType::int8}) {
    if (name == to_string(type)) return type;
  }
  throw py::value_error("element_type must be 'float32', 'uint8' or 'int8', got '" + name + "'");
}

std::shared_ptr<PyFlatIndex> make_index(py::handle dim, const std::string& metric,
                                        std::shared_ptr<Context> context,
                                        const std::string& element_type) {
  const std::size_t d = positive_int(dim, "dim");
  const ElementType type = parse_element_type(element_type);
  context = context_or_default(std::move(context));
  FlatIndex index(*context, d, parse_metric(metric), type);
  return std::make_shared<PyFlatIndex>(std::move(context), std::move(index));
}

/// Adds x's rows, in the index's element type, labelled by ids (None: numbered on).
void add_rows(PyFlatIndex& self, py::handle x, const py::object& ids) {
  const auto add_all = [&](const auto& rows) {
    std::optional<IdArray> labels;
    if (!ids.is_none()) labels = as_ids(ids, static_cast<std::size_t>(rows.shape(0)));
    without_gil([&] {
      self.drain_left_work();
      if (labels) {
        self.index.add_with_ids(span_of(rows), span_of(*labels));
      } else {
        self.index.add(span_of(rows));
      }
    });
  };
  switch (self.index.element_type()) {
    case ElementType::float32:
      return add_all(as_rows(x, "x", self.index.dim()));
    case ElementType::uint8:
      return add_all(as_byte_rows<std::uint8_t>(x, "x", self.index.dim()));
    case ElementType::int8:
      return add_all(as_byte_rows<std::int8_t>(x, "x", self.index.dim()));
  }
}

/// The stored rows at `rows` (positions): an int gives one (dim,) row, integers an (n, dim)
/// array.
py::array_t<float> reconstruct(const PyFlatIndex& self, py::handle rows) {
  const bool one = py::hasattr(rows, "__index__") && !py::isinstance<py::array>(rows) &&
                   !py::isinstance<py::bool_>(rows);
  const IdArray wanted = one ? IdArray(py::make_tuple(rows)) : as_int64(rows, "rows");
  if (wanted.ndim() != 1) {
    throw py::value_error("rows must be an integer or 1-D integers, got shape " + shape_of(wanted));
  }
  std::vector<std::size_t> positions;
  positions.reserve(static_cast<std::size_t>(wanted.size()));
  for (const std::int64_t row : span_of(wanted)) {
    if (row < 0) {
      const std::size_t size = self.index.size();
      throw py::value_error("rows: " + std::to_string(row) + " is negative (" +
                            (size == 0 ? std::string("the index holds no rows")
                                       : "rows are positions 0.." + std::to_string(size - 1)) +
                            ")");
    }
    positions.push_back(static_cast<std::size_t>(row));
  }
  std::vector<float> values = without_gil([&] { return self.index.reconstruct(positions); });
  const auto dim = static_cast<py::ssize_t>(self.index.dim());
  if (one) return adopt(std::move(values), {dim});
  return adopt(std::move(values), {static_cast<py::ssize_t>(positions.size()), dim});
}

py::dict search_stats(const PyFlatIndex& self) {
  return py::dict("searches"_a = self.searches.load(), "queries"_a = self.queries.load(),
                  "second_pass_queries"_a = self.second_pass_queries.load(),
                  "direct_pass_queries"_a = self.direct_pass_queries.load());
}

std::size_t remove_ids(PyFlatIndex& self, py::handle ids) {
  const IdArray labels = as_int64(ids, "ids");
  if (labels.ndim() != 1) throw py::value_error("ids must be 1-D, got shape " + shape_of(labels));
  return without_gil([&] {
    self.drain_left_work();
    return self.index.remove_ids(span_of(labels));
  });
}

py::tuple index_search(PyFlatIndex& self, py::handle q, py::handle k, std::optional<double> timeout,
                       py::handle filter) {
  const FloatArray queries = as_rows(q, "queries", self.index.dim());
  const std::size_t kk = positive_int(k, "k");
  ExecuteOptions options = options_for(timeout);
  const std::optional<IdFilter> allowed = as_filter(filter);
  try {
    KnnResult result = interruptible([&](std::stop_token stop) {
      options.stop = std::move(stop);
      return allowed ? self.index.search(span_of(queries), kk, *allowed, options)
                     : self.index.search(span_of(queries), kk, options);
    });
    self.count(result);
    return to_numpy(std::move(result));
  } catch (...) {
    self.left_work = true;
    throw;
  }
}

/// The contexts of knn(devices=...): one per entry, the same index twice allowed. None: the
/// given context, else the default one.
std::vector<std::shared_ptr<Context>> contexts_for(const std::optional<py::sequence>& devices,
                                                   std::shared_ptr<Context> context) {
  if (!devices) return {context_or_default(std::move(context))};
  if (context) throw py::value_error("knn: give context or devices, not both");
  if (devices->empty()) throw py::value_error("knn: devices is an empty list");
  if (py::isinstance<py::str>(*devices) || py::isinstance<py::bytes>(*devices))
    throw py::type_error("knn: devices must be a sequence of device indices, got a string");
  std::vector<std::uint32_t> indices;
  for (const py::handle device : *devices) {
    const std::size_t index = int_at_least(device, "each of devices", 0);
    if (index > std::numeric_limits<std::uint32_t>::max()) {
      throw py::value_error("each of devices must be an index into devices(), got " +
                            py::repr(device).cast<std::string>());
    }
    indices.push_back(static_cast<std::uint32_t>(index));
  }
  return without_gil([&] {
    std::vector<std::shared_ptr<Context>> out;
    out.reserve(indices.size());
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
    if (hdf5_dataset(path)) {  // read whole: an HDF5 dataset is not mapped
      out.rows = FloatArray(to_numpy(without_gil([&] { return read_vectors(path); })));
    } else {
      out.file.emplace(without_gil([&] { return MappedVectors(path); }));
    }
  } else {
    out.rows = as_rows(base, "base", 0);
  }
  return out;
}

/// The planner's options of a knn or knn_graph call.
SearchOptions planner_options(std::optional<double> timeout, py::handle memory_budget) {
  SearchOptions options;
  options.timeout = options_for(timeout).timeout;
  if (!memory_budget.is_none())
    options.memory_budget = positive_int(memory_budget, "memory_budget");
  return options;
}

std::vector<Context*> pointers_to(const std::vector<std::shared_ptr<Context>>& contexts) {
  std::vector<Context*> pointers;
  pointers.reserve(contexts.size());
  for (const auto& c : contexts)
    pointers.push_back(c.get());
  return pointers;
}

/// The library's planner (vecaccel/search.hpp): the base held or streamed on each device, the
/// devices' top k merged exactly. A FlatIndex base is searched on its own context.
py::tuple knn(py::handle base, py::handle q, py::handle k, const std::string& metric,
              std::shared_ptr<Context> context, std::optional<double> timeout,
              const std::optional<py::sequence>& devices, py::handle memory_budget,
              py::handle filter, std::optional<double> radius, py::handle max_results) {
  const KnnBase rows = knn_base(base);
  const SearchBase view = rows.view();
  const FloatArray queries = as_rows(q, "queries", view.dim());
  const std::size_t kk = positive_int(k, "k");
  const Metric m = parse_metric(metric);
  SearchOptions options = planner_options(timeout, memory_budget);
  options.filter = as_filter(filter);
  if (rows.index && (devices || context)) {
    throw py::value_error(
        "knn: a FlatIndex is searched on its own context; devices and context "
        "do not apply");
  }
  std::vector<std::shared_ptr<Context>> contexts;
  if (!rows.index) contexts = contexts_for(devices, std::move(context));
  const std::vector<Context*> pointers = pointers_to(contexts);
  const MatrixView<const float> query_rows(span_of(queries),
                                           static_cast<std::size_t>(queries.shape(0)), view.dim());
  try {
    if (radius) {  // range_search(): (lims, D, I)
      const std::size_t most = int_at_least(max_results, "max_results", 0);
      RangeResult r = interruptible([&](std::stop_token stop) {
        options.stop = std::move(stop);
        return range_search(pointers, view, query_rows, *radius, m, options, most);
      });
      if (rows.index) rows.index->count_queries(query_rows.rows());
      const auto n = static_cast<py::ssize_t>(r.labels.size());
      return py::make_tuple(adopt(std::move(r.lims), {static_cast<py::ssize_t>(r.lims.size())}),
                            adopt(std::move(r.distances), {n}), adopt(std::move(r.labels), {n}));
    }
    KnnResult result = interruptible([&](std::stop_token stop) {
      options.stop = std::move(stop);
      return vecaccel::search(pointers, view, query_rows, kk, m, options).knn;
    });
    if (rows.index) rows.index->count(result);
    return to_numpy(std::move(result));
  } catch (...) {
    if (rows.index) rows.index->left_work = true;
    throw;
  }
}

/// The exact self-kNN graph (vecaccel/knn_graph.hpp) of an array's rows or a vector file.
py::tuple knn_graph(py::handle x, py::handle k, const std::string& metric,
                    std::shared_ptr<Context> context, std::optional<double> timeout,
                    const std::optional<py::sequence>& devices, py::handle memory_budget) {
  if (py::isinstance<PyFlatIndex>(x)) {
    throw py::value_error(
        "knn_graph: x must be an array (n, d) or a vector file, not a FlatIndex "
        "(its labels need not be its rows)");
  }
  const KnnBase rows = knn_base(x);
  const std::size_t kk = positive_int(k, "k");
  const Metric m = parse_metric(metric);
  SearchOptions options = planner_options(timeout, memory_budget);
  const std::vector<std::shared_ptr<Context>> contexts = contexts_for(devices, std::move(context));
  const std::vector<Context*> pointers = pointers_to(contexts);
  return to_numpy(interruptible([&](std::stop_token stop) {
    options.stop = std::move(stop);
    return vecaccel::knn_graph(pointers, rows.view(), kk, m, options).knn;
  }));
}

std::string index_repr(const PyFlatIndex& self) {
  return "vecaccel.FlatIndex(dim=" + std::to_string(self.index.dim()) + ", metric='" +
         std::string(to_string(self.index.metric())) +
         "', ntotal=" + std::to_string(self.index.size()) +
         (self.index.element_type() == ElementType::float32
              ? std::string()
              : ", element_type='" + std::string(to_string(self.index.element_type())) + "'") +
         ")";
}

/// An .npy of bytes ('|u1', '|i1') keeps its dtype, as numpy.load keeps it; every other file
/// (and an .npy read from a pipe, whose header cannot be read twice) is float32.
py::array read_vector_file(const std::filesystem::path& path) {
  const bool npy = !hdf5_dataset(path) && format_from_path(path) == VectorFileFormat::npy &&
                   std::filesystem::is_regular_file(path);
  const ElementType type =
      npy ? without_gil([&] { return MappedVectors(path).element_type(); }) : ElementType::float32;
  if (type == ElementType::uint8)
    return to_numpy(without_gil([&] { return read_u8_vectors(path); }));
  if (type == ElementType::int8)
    return to_numpy(without_gil([&] { return read_i8_vectors(path); }));
  return to_numpy(without_gil([&] { return read_vectors(path); }));
}

/// A finite value that float32 cannot hold (|v| > 3.4e38 in float64) would be written as inf:
/// refused, naming where, before numpy's conversion (which would only warn).
void check_float32_range(py::handle x) {
  const py::array raw = py::array::ensure(x);
  if (!raw || raw.ndim() != 2 || raw.dtype().kind() != 'f' || raw.dtype().itemsize() <= 4) return;
  const auto wide = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(raw);
  if (!wide) throw py::error_already_set();
  const std::span<const double> values = span_of(wide);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i]) && std::isinf(static_cast<float>(values[i]))) {
      const auto dim = static_cast<std::size_t>(raw.shape(1));
      throw py::value_error("array[" + std::to_string(i / dim) + ", " + std::to_string(i % dim) +
                            "] = " + py::repr(py::float_(values[i])).cast<std::string>() +
                            " is beyond float32's range (it would be written as inf)");
    }
  }
}

void write_float_file(const std::filesystem::path& path, py::handle x) {
  check_float32_range(x);
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
      .def(py::init(&make_index), "dim"_a, "metric"_a = "l2", "context"_a = nullptr,
           "element_type"_a = "float32")
      .def(
          "add", [](PyFlatIndex& self, py::handle x) { add_rows(self, x, py::none()); }, "x"_a,
          "Appends the rows of x, shape (n, dim); they are numbered ntotal, ntotal + 1, ... "
          "A uint8/int8 index takes integer arrays whose values fit its type.")
      .def(
          "add_with_ids",
          [](PyFlatIndex& self, py::handle x, const py::object& ids) { add_rows(self, x, ids); },
          "x"_a, "ids"_a,
          "Appends the rows of x, shape (n, dim), labelled by ids, shape (n,), integers.")
      .def("reconstruct", &reconstruct, "rows"_a,
           "The stored vectors at positions rows (insertion order, after removals close up): an "
           "int gives shape (dim,), integers (n, dim); float32 (uint8/int8 rows widened; cosine "
           "rows scaled by a power of two).")
      .def("stats", &search_stats,
           "Counts over the index's searches: searches, queries, second_pass_queries (queries "
           "whose certificate failed and were re-screened over more candidates) and "
           "direct_pass_queries (queries ranked by a direct float64 pass).")
      .def_property_readonly(
          "device_bytes", [](const PyFlatIndex& s) { return s.index.device_bytes(); },
          "Bytes of GPU memory the index's rows take (rows, norms, float16 copy).")
      .def_property_readonly(
          "element_type",
          [](const PyFlatIndex& s) { return std::string(to_string(s.index.element_type())); },
          "'float32', 'uint8' or 'int8': how rows are stored on the GPU.")
      .def("remove_ids", &remove_ids, "ids"_a,
           "Removes the rows labelled by ids (a 1-D integer array; labels not in the index are "
           "ignored) and returns how many went. The others keep their labels; add() numbers on "
           "as if nothing had been removed.")
      .def("search", &index_search, "queries"_a, "k"_a, "timeout"_a = py::none(),
           "filter"_a = py::none(),
           "The k nearest rows of each query: (D, I), float32 and int64 arrays of shape "
           "(nq, k), best first, ties by label. Rows with fewer than k candidates are padded "
           "with label -1 and distance +inf (l2, l1, linf) or -inf. timeout in seconds (None: no "
           "limit; "
           "the error names the limit when it fires); Ctrl-C stops the search and leaves the index "
           "usable. filter: a 1-D integer array of allowed labels, or a 1-D bool array indexed by "
           "label (True = allowed); the search is exact over the allowed rows.")
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
      .def_property(
          "coalescing_window",
          [](const PyFlatIndex& s) {
            return std::chrono::duration<double>(s.index.coalescing_window()).count();
          },
          [](PyFlatIndex& s, double seconds) {
            if (!(seconds >= 0) || seconds > 3600) {
              throw py::value_error("coalescing_window must be 0 (off) to 3600 seconds, got " +
                                    py::str(py::float_(seconds)).cast<std::string>());
            }
            s.index.set_coalescing_window(std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::duration<double>(seconds)));
          },
          "Seconds a search of few queries may wait for concurrent searches from other threads "
          "to share one scan of the base (default 0.0005; 0 turns this off). A search alone "
          "never waits; each caller gets its own results, timeout and errors.")
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

  m.def("_search", &knn, "base"_a, "queries"_a, "k"_a, "metric"_a = "l2", "context"_a = nullptr,
        "timeout"_a = py::none(), "devices"_a = py::none(), "memory_budget"_a = py::none(),
        "filter"_a = py::none(), "_radius"_a = py::none(), "max_results"_a = 100'000'000,
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

  m.def("knn_graph", &python::knn_graph, "x"_a, "k"_a, "metric"_a = "l2", "context"_a = nullptr,
        "timeout"_a = py::none(), "devices"_a = py::none(), "memory_budget"_a = py::none(),
        "The exact self-kNN graph: (D, I), float32 and int64 of shape (n, k), each row's k "
        "nearest other rows of x (the row itself left out by position, exact duplicates "
        "elsewhere kept), best first, ties by row; -1 / worst distance where x has fewer than "
        "k other rows. x: an array (n, d) or the path of a vector file (streamed when over the "
        "memory budget). devices, context, memory_budget, timeout as knn.");
  m.def("read_vectors", &read_vector_file, "path"_a,
        "Reads an (n, d) array from any file the vecaccel CLI reads: float32 from .fvecs, "
        ".fbin, .npy ('<f4'), .bvecs, .u8bin, .i8bin and .ivecs (converted to float), or an "
        "ann-benchmarks HDF5 dataset: 'f.hdf5' (its train) or 'f.hdf5:name'; an .npy of uint8 "
        "('|u1') or int8 ('|i1') keeps its dtype, as numpy.load does. C order.");
  m.def("write_vectors", &write_float_file, "path"_a, "array"_a,
        "Writes a (n, d) array as float32 to .fvecs, .fbin or .npy ('<f4', 2-D), chosen by the "
        "extension (atomically: the old file stays on any failure).");
  m.def(
      "read_ids",
      [](const std::filesystem::path& path) {
        return to_numpy(without_gil([&] { return read_ids(path); }));
      },
      "path"_a,
      "Reads an int32 (n, k) array (e.g. ground truth) from .ivecs or .npy, or an HDF5 "
      "dataset: 'f.hdf5' (its neighbors) or 'f.hdf5:name'.");
  m.def("write_ids", &write_id_file, "path"_a, "array"_a,
        "Writes a (n, k) array as int32 to .ivecs or .npy.");

  m.def(
      "_as_float32", [](py::handle x) { return as_float32(x); }, "x"_a,
      "The float32 C-contiguous array searches read x through (x itself when no conversion "
      "is needed). For tests.");
}
