// Array conversions of the binding (binding.hpp): NumPy, DLPack and array-likes in, checked.

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "binding.hpp"

namespace vecaccel::python {

/// DLPack's device type of host memory (kDLCPU).
constexpr int dlpack_cpu = 1;

py::object as_numpy(py::handle x, const char* name) {
  if (py::isinstance<py::array>(x) || !py::hasattr(x, "__dlpack__")) {
    return py::reinterpret_borrow<py::object>(x);
  }
  if (py::hasattr(x, "__dlpack_device__")) {
    const py::tuple device = x.attr("__dlpack_device__")();
    const int type = device[0].cast<int>();
    if (type != dlpack_cpu) {
      throw py::value_error(std::string(name) + " is in memory of DLPack device type " +
                            std::to_string(type) + " (device " +
                            py::str(device[1]).cast<std::string>() +
                            "); vecaccel reads host memory: move it to the CPU first (torch: "
                            ".cpu())");
    }
  }
  return py::module_::import("numpy").attr("from_dlpack")(x);
}

std::string shape_of(const py::array& a) {
  return py::str(a.attr("shape")).cast<std::string>();
}

FloatArray as_float32(py::handle x, const char* name) {
  return FloatArray(as_numpy(x, name));
}

FloatArray as_rows(py::handle x, const char* name, std::size_t dim) {
  FloatArray a = as_float32(x, name);
  const std::string expected =
      std::string("(n, ") + (dim == 0 ? std::string("d") : std::to_string(dim)) + ")";
  if (a.ndim() != 2 || (dim != 0 && static_cast<std::size_t>(a.shape(1)) != dim)) {
    throw py::value_error(std::string(name) + " must have shape " + expected + ", got " +
                          shape_of(a));
  }
  return a;
}

IdArray as_int64(py::handle x, const char* name) {
  const py::module_ numpy = py::module_::import("numpy");
  const py::array raw = numpy.attr("asarray")(as_numpy(x, name));
  // No ids ([] reads as float64): none, whatever the dtype.
  if (raw.size() == 0) return IdArray(numpy.attr("zeros")(raw.attr("shape"), "int64"));
  const char kind = raw.dtype().kind();
  // uint64 ids (other libraries' choice) are taken where their values fit.
  const bool fits =
      (kind == 'i' || kind == 'u') &&
      (numpy.attr("can_cast")(raw.dtype(), numpy.attr("int64")).cast<bool>() ||
       py::int_(raw.attr("max")()) <= py::int_(std::numeric_limits<std::int64_t>::max()));
  if (!fits) {
    throw py::value_error(std::string(name) + " must be integers that fit int64, got " +
                          (kind == 'u'
                               ? "the value " + py::str(raw.attr("max")()).cast<std::string>()
                               : "dtype " + py::str(raw.dtype()).cast<std::string>()));
  }
  return IdArray(raw.attr("astype")("int64", py::arg("copy") = false));
}

IdArray as_ids(py::handle ids, std::size_t n) {
  IdArray a = as_int64(ids, "ids");
  if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n) {
    throw py::value_error("ids must have shape (" + std::to_string(n) + ",), got " + shape_of(a));
  }
  return a;
}

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
  if (number > py::int_(std::numeric_limits<std::size_t>::max())) {
    throw py::value_error(std::string(name) + " must be below 2^64, got " + given);
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
template <class T>
py::array_t<T, py::array::c_style> as_byte_rows(py::handle x, const char* name, std::size_t dim) {
  using Bytes = py::array_t<T, py::array::c_style>;
  const py::module_ numpy = py::module_::import("numpy");
  const py::array raw = numpy.attr("asarray")(as_numpy(x, name));
  const std::string type = std::is_signed_v<T> ? "int8" : "uint8";
  const char kind = raw.dtype().kind();
  if (kind != 'i' && kind != 'u') {
    throw py::value_error(std::string(name) + " must be integers for an index of " + type +
                          " rows, got dtype " + py::str(raw.dtype()).cast<std::string>());
  }
  if (raw.ndim() != 2 || static_cast<std::size_t>(raw.shape(1)) != dim) {
    throw py::value_error(std::string(name) + " must have shape (n, " + std::to_string(dim) +
                          "), got " + shape_of(raw));
  }
  if (raw.size() > 0 && !py::isinstance<Bytes>(raw)) {
    // Values are checked before any narrowing: 300 must not become 44.
    // As Python integers: a uint64 above 2^63 fits no C++ signed type.
    const py::int_ low(raw.attr("min")());
    const py::int_ high(raw.attr("max")());
    const py::int_ least(static_cast<int>(std::numeric_limits<T>::min()));
    const py::int_ most(static_cast<int>(std::numeric_limits<T>::max()));
    if (low < least || high > most) {
      const py::handle outside = low < least ? low : high;
      throw py::value_error(std::string(name) + " holds " + py::str(outside).cast<std::string>() +
                            ", outside the " + std::to_string(std::numeric_limits<T>::min()) +
                            ".." + std::to_string(std::numeric_limits<T>::max()) + " of " + type);
    }
  }
  // Checked above: the cast only narrows values that fit.
  const auto converted = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(raw);
  if (!converted) throw py::error_already_set();
  return Bytes::ensure(converted);
}

template py::array_t<std::uint8_t, py::array::c_style> as_byte_rows<std::uint8_t>(py::handle,
                                                                                  const char*,
                                                                                  std::size_t);
template py::array_t<std::int8_t, py::array::c_style> as_byte_rows<std::int8_t>(py::handle,
                                                                                const char*,
                                                                                std::size_t);

py::tuple to_numpy(KnnResult&& r) {
  const auto rows = static_cast<py::ssize_t>(r.rows);
  const auto k = static_cast<py::ssize_t>(r.k);
  return py::make_tuple(adopt(std::move(r.distances), {rows, k}),
                        adopt(std::move(r.labels), {rows, k}));
}

}  // namespace vecaccel::python
