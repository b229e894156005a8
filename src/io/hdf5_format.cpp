// The HDF5 reader (hdf5_format.hpp) on the HDF5 C library.

#include "io/hdf5_format.hpp"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "io/input_file.hpp"
#include "io/vector_file_parsing.hpp"

namespace vecaccel::detail {
namespace {

using io::cat;
using io::check_fits_memory;
using io::fail;
using io::InputFile;

/// An HDF5 identifier closed by its own close function.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) noexcept : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

/// The innermost message of the HDF5 error stack ("" when it is empty): what the library found
/// wrong, for our message.
std::string library_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* error, void* out) -> herr_t {
        auto& text = *static_cast<std::string*>(out);
        if (text.empty() && error->desc != nullptr) text = error->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? std::string() : " (" + reason + ")";
}

[[noreturn]] void damaged(std::string_view name, const std::string& what) {
  fail(Errc::io_error, name, what + library_reason());
}

Handle open_file(const Hdf5Input& input) {
  // The library prints its error stack to stderr by default; ours says what failed instead.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string name = input.path.string();
  if (input.image.empty()) {
    InputFile probe(input.path);  // a missing or unreadable file: the readers' own message
    if (H5Fis_hdf5(name.c_str()) <= 0) damaged(name, "not an HDF5 file");
    Handle file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) damaged(name, "cannot open the HDF5 file");
    return file;
  }
  const Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!access.valid() || H5Pset_fapl_core(access.get(), 1U << 16U, 0) < 0 ||
      H5Pset_file_image(access.get(), const_cast<std::byte*>(input.image.data()),
                        input.image.size()) < 0) {
    damaged(name, "cannot hold the HDF5 image in memory");
  }
  Handle file(H5Fopen(name.c_str(), H5F_ACC_RDONLY, access.get()), H5Fclose);
  if (!file.valid()) damaged(name, "not a readable HDF5 file");
  return file;
}

/// The file's top-level names, for a message about a missing dataset.
std::string top_level_names(hid_t file) {
  std::string names;
  H5Literate(
      file, H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* entry, const H5L_info_t*, void* out) -> herr_t {
        auto& text = *static_cast<std::string*>(out);
        text += (text.empty() ? "" : ", ") + std::string(entry);
        return 0;
      },
      &names);
  H5Eclear2(H5E_DEFAULT);
  return names.empty() ? "none" : names;
}

/// A dataset's rows x dim and element type, checked: 2-D, numeric, its stored bytes
/// accounting for its declared size (a truncated file or a lying header allocates nothing).
struct Shape {
  std::size_t rows = 0;
  std::size_t dim = 0;
  H5T_class_t type_class = H5T_NO_CLASS;
  bool unsigned64 = false;
};

Shape dataset_shape(hid_t file, hid_t dataset, std::string_view name, std::string_view what) {
  const Handle space(H5Dget_space(dataset), H5Sclose);
  const Handle type(H5Dget_type(dataset), H5Tclose);
  if (!space.valid() || !type.valid()) damaged(name, cat(what, ": unreadable shape or type"));
  const int dims = H5Sget_simple_extent_ndims(space.get());
  if (dims != 2) {
    fail(Errc::io_error, name, cat(what, " has ", dims, " dimensions, need 2 (rows, dim)"));
  }
  hsize_t extent[2] = {0, 0};
  H5Sget_simple_extent_dims(space.get(), extent, nullptr);
  Shape shape{.rows = static_cast<std::size_t>(extent[0]),
              .dim = static_cast<std::size_t>(extent[1]),
              .type_class = H5Tget_class(type.get())};
  if (shape.type_class != H5T_FLOAT && shape.type_class != H5T_INTEGER) {
    fail(Errc::io_error, name,
         cat(what, " is not numeric (HDF5 type class ", shape.type_class, ")"));
  }
  shape.unsigned64 = shape.type_class == H5T_INTEGER && H5Tget_size(type.get()) > 4 &&
                     H5Tget_sign(type.get()) == H5T_SGN_NONE;
  constexpr std::size_t max_dim = 1000000;
  if (shape.rows > 0 && (shape.dim == 0 || shape.dim > max_dim)) {
    fail(Errc::io_error, name, cat(what, " has dimension ", shape.dim, ", need 1..", max_dim));
  }
  const std::size_t element = H5Tget_size(type.get());
  if (element == 0 || element > 8) {
    fail(Errc::io_error, name, cat(what, " has ", element, "-byte elements, need 1 to 8"));
  }
  const std::uint64_t declared = static_cast<std::uint64_t>(extent[0]) * extent[1] * element;
  if (extent[1] != 0 && declared / extent[1] / element != extent[0]) {
    fail(Errc::io_error, name, cat(what, " declares ", extent[0], " x ", extent[1], " elements"));
  }
  const Handle layout(H5Dget_create_plist(dataset), H5Pclose);
  const bool contiguous = layout.valid() && H5Pget_layout(layout.get()) == H5D_CONTIGUOUS;
  const std::uint64_t stored = H5Dget_storage_size(dataset);
  hsize_t file_size = 0;
  H5Fget_filesize(file, &file_size);
  // Compressed chunks may hold more than they take; never more than the filters' best ratio.
  constexpr std::uint64_t max_ratio = 1024;
  const bool accounted = contiguous
                             ? stored >= declared && declared <= file_size
                             : stored > 0 && stored <= file_size && declared / max_ratio <= stored;
  if (declared > 0 && !accounted) {
    fail(
        Errc::io_error, name,
        cat(what, " declares ", declared, " bytes but stores ", stored, " (truncated or damaged)"));
  }
  check_fits_memory(static_cast<std::uint64_t>(shape.rows) * shape.dim * sizeof(double), name,
                    what);
  return shape;
}

/// The dataset's values converted to T by the library (T is double or int64_t: every stored
/// float or integer type fits one of them exactly, bar uint64, which is refused).
template <class T>
std::vector<T> read_values(hid_t dataset, const Shape& shape, hid_t memory_type,
                           std::string_view name, std::string_view what) {
  std::vector<T> values(shape.rows * shape.dim);
  if (!values.empty() &&
      H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    damaged(name, cat(what, ": its data cannot be read"));
  }
  return values;
}

/// The shortest text that reads back as v: 16777217, not 1.67772e+07 (which hides why it is
/// not a float32).
std::string shortest_text(double v) {
  std::array<char, 32> text{};
  const auto end = std::to_chars(text.data(), text.data() + text.size(), v).ptr;
  return {text.data(), end};
}

std::string position(const Shape& shape, std::size_t i) {
  return cat("row ", i / shape.dim, ", column ", i % shape.dim);
}

template <class Out>
Matrix<Out> read_dataset(const Hdf5Input& input, std::string_view dataset_name) {
  const std::string name = input.path.string();
  const Handle file = open_file(input);
  const std::string what = cat("dataset '", dataset_name, "'");
  const std::string path(dataset_name);
  if (H5Lexists(file.get(), path.c_str(), H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    fail(Errc::io_error, name,
         cat("no ", what, " (the file holds: ", top_level_names(file.get()), ")"));
  }
  const Handle dataset(H5Dopen2(file.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) damaged(name, cat(what, " is not a dataset"));
  const Shape shape = dataset_shape(file.get(), dataset.get(), name, what);
  if (shape.unsigned64) fail(Errc::io_error, name, cat(what, " holds uint64, which is not read"));
  Matrix<Out> out{.rows = shape.rows, .dim = shape.rows == 0 ? 0 : shape.dim, .values = {}};
  out.values.reserve(shape.rows * shape.dim);
  if constexpr (std::is_same_v<Out, float>) {
    const auto values = read_values<double>(dataset.get(), shape, H5T_NATIVE_DOUBLE, name, what);
    constexpr double exact_integers = 16777216.0;  // 2^24: beyond, not every integer is a float
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      const auto f = static_cast<float>(v);
      const bool exact = shape.type_class == H5T_INTEGER
                             ? std::fabs(v) <= exact_integers
                             : std::isnan(v) || static_cast<double>(f) == v;
      if (!exact) {
        fail(
            Errc::invalid_argument, name,
            cat(what, " ", position(shape, i), ": ", shortest_text(v), " is not exact as float32"));
      }
      out.values.push_back(f);
    }
  } else {
    if (shape.type_class != H5T_INTEGER) {
      fail(Errc::invalid_argument, name, cat(what, " holds floats; ids must be integers"));
    }
    const auto values =
        read_values<std::int64_t>(dataset.get(), shape, H5T_NATIVE_INT64, name, what);
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] < std::numeric_limits<std::int32_t>::min() ||
          values[i] > std::numeric_limits<std::int32_t>::max()) {
        fail(Errc::invalid_argument, name,
             cat(what, " ", position(shape, i), ": ", values[i], " does not fit int32"));
      }
      out.values.push_back(static_cast<std::int32_t>(values[i]));
    }
  }
  return out;
}

}  // namespace

bool hdf5_available() noexcept {
  return true;
}

Matrix<float> read_hdf5_vectors(const Hdf5Input& input, std::string_view dataset) {
  return read_dataset<float>(input, dataset);
}

Matrix<std::int32_t> read_hdf5_ids(const Hdf5Input& input, std::string_view dataset) {
  return read_dataset<std::int32_t>(input, dataset);
}

std::optional<std::string> read_hdf5_distance(const std::filesystem::path& path) {
  const std::string name = path.string();
  const Handle file = open_file({.path = path, .image = {}});
  if (H5Aexists(file.get(), "distance") <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return std::nullopt;
  }
  const Handle attribute(H5Aopen(file.get(), "distance", H5P_DEFAULT), H5Aclose);
  const Handle type(H5Aget_type(attribute.get()), H5Tclose);
  if (!attribute.valid() || !type.valid() || H5Tget_class(type.get()) != H5T_STRING) {
    damaged(name, "its 'distance' attribute is not text");
  }
  // h5py writes variable-length strings; fixed-length ones are read alike.
  if (H5Tis_variable_str(type.get()) > 0) {
    const Handle text_type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(text_type.get(), H5T_VARIABLE);
    H5Tset_cset(text_type.get(), H5Tget_cset(type.get()));
    char* text = nullptr;
    if (H5Aread(attribute.get(), text_type.get(), &text) < 0 || text == nullptr) {
      damaged(name, "its 'distance' attribute cannot be read");
    }
    std::string out(text);
    H5free_memory(text);
    return out;
  }
  std::string out(H5Tget_size(type.get()), '\0');
  if (H5Aread(attribute.get(), type.get(), out.data()) < 0) {
    damaged(name, "its 'distance' attribute cannot be read");
  }
  out.erase(std::find(out.begin(), out.end(), '\0'), out.end());
  return out;
}

}  // namespace vecaccel::detail
