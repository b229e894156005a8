#include "collectives.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel::mpi::detail {
namespace {

// MPI counts are ints: collectives move at most this many elements at a time.
constexpr std::size_t kMaxCount = std::size_t{1} << 26;

template <class T>
MPI_Datatype datatype();
template <>
MPI_Datatype datatype<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype datatype<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype datatype<std::int64_t>() {
  return MPI_INT64_T;
}

template <class T>
std::vector<T> gather_of(MPI_Comm comm, std::span<const T> values) {
  const bool root = rank(comm) == 0;
  const auto ranks = static_cast<std::size_t>(size(comm));
  const std::size_t n = values.size();
  std::vector<T> out(root ? n * ranks : 0);
  std::vector<T> piece;
  for (std::size_t first = 0; first < n; first += kMaxCount) {
    const std::size_t count = std::min(kMaxCount, n - first);
    if (root) piece.resize(count * ranks);
    check(MPI_Gather(values.data() + first, static_cast<int>(count), datatype<T>(), piece.data(),
                     static_cast<int>(count), datatype<T>(), 0, comm),
          "MPI_Gather");
    for (std::size_t r = 0; root && r < ranks; ++r) {
      std::copy_n(piece.begin() + static_cast<std::ptrdiff_t>(r * count), count,
                  out.begin() + static_cast<std::ptrdiff_t>(r * n + first));
    }
  }
  return out;
}

}  // namespace

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(Errc::io_error, std::string(what) + " failed: " + std::string(text, length));
}

int rank(MPI_Comm comm) {
  int out = 0;
  check(MPI_Comm_rank(comm, &out), "MPI_Comm_rank");
  return out;
}

int size(MPI_Comm comm) {
  int out = 0;
  check(MPI_Comm_size(comm, &out), "MPI_Comm_size");
  return out;
}

std::vector<std::uint64_t> all_gather(MPI_Comm comm, std::span<const std::uint64_t> values) {
  std::vector<std::uint64_t> out(values.size() * static_cast<std::size_t>(size(comm)));
  const int count = static_cast<int>(values.size());
  check(MPI_Allgather(values.data(), count, MPI_UINT64_T, out.data(), count, MPI_UINT64_T, comm),
        "MPI_Allgather");
  return out;
}

std::vector<float> gather(MPI_Comm comm, std::span<const float> values) {
  return gather_of(comm, values);
}
std::vector<double> gather(MPI_Comm comm, std::span<const double> values) {
  return gather_of(comm, values);
}
std::vector<std::int64_t> gather(MPI_Comm comm, std::span<const std::int64_t> values) {
  return gather_of(comm, values);
}

std::string broadcast(MPI_Comm comm, const std::string& text, int root) {
  std::uint64_t length = text.size();
  check(MPI_Bcast(&length, 1, MPI_UINT64_T, root, comm), "MPI_Bcast");
  std::string out = rank(comm) == root ? text : std::string(length, '\0');
  check(MPI_Bcast(out.data(), static_cast<int>(length), MPI_CHAR, root, comm), "MPI_Bcast");
  return out;
}

}  // namespace vecaccel::mpi::detail
