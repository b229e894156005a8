// bench_stream: a base larger than the GPU's memory (issue 11 item 7), written, then searched by
// `vecaccel search` (which streams it on its own), then checked against float64.
//
//   bench_stream write FILE TYPE:ROWS:DIM SEED
//     Writes rows [0, ROWS) of clustered_data.hpp's distribution SEED to FILE (.fbin, .u8bin or
//     .i8bin) on every core, a block of rows at a time: the host holds one block per core.
//   bench_stream check BASE QUERY GT SAMPLES
//     Compares SAMPLES queries, spread over QUERY, of GT (the .ibin ids and distances that
//     `vecaccel search --output` wrote; l2) with a float64 brute force over the mapped BASE on
//     every core: the labels in order (ties by label), each distance the float64 value rounded
//     to float32 within an ulp (the GPU sums in another order). Prints a JSON line; exit
//     status 1 at the first difference, which it names.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "clustered_data.hpp"
#include "vecaccel/vecaccel.hpp"

namespace {

using vecaccel::ElementType;
using vecaccel::bench::ClusteredData;
using vecaccel::bench::for_each_row_range;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// An open file descriptor, closed on every path.
class File {
 public:
  explicit File(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644)) {
    if (fd_ < 0) fail("cannot create " + path);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { ::close(fd_); }

  void write_at(const void* data, std::size_t bytes, std::uint64_t offset) const {
    const auto* at = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::pwrite(fd_, at, bytes, static_cast<off_t>(offset));
      if (n <= 0) fail("write at byte " + std::to_string(offset));
      at += n;
      bytes -= static_cast<std::size_t>(n);
      offset += static_cast<std::uint64_t>(n);
    }
  }

 private:
  int fd_;
};

template <class T>
void write_base(const std::string& path, std::size_t rows, std::size_t dim, std::uint64_t seed) {
  if (rows > INT32_MAX || dim > INT32_MAX)
    throw std::invalid_argument("rows and dim must fit int32");
  const File file(path);
  const std::int32_t header[2] = {static_cast<std::int32_t>(rows), static_cast<std::int32_t>(dim)};
  file.write_at(header, sizeof header, 0);
  const ClusteredData<T> data(dim, seed);
  constexpr std::size_t block_rows = 1 << 16;
  for_each_row_range(rows, [&](std::size_t first, std::size_t count) {
    std::vector<T> block(block_rows * dim);
    for (std::size_t done = 0; done < count; done += block_rows) {
      const std::size_t n = std::min(block_rows, count - done);
      const std::span<T> rows_now = std::span(block).first(n * dim);
      data.fill(first + done, rows_now);
      file.write_at(rows_now.data(), rows_now.size_bytes(),
                    sizeof header + (first + done) * dim * sizeof(T));
    }
  });
}

/// One candidate of the brute force: float64 value, then label.
using Candidate = std::pair<double, std::int64_t>;

/// The k best (value, label) of each query over every row of `base`, on every core.
template <class T>
std::vector<std::vector<Candidate>> brute_force(const vecaccel::MappedVectors& base,
                                                const std::vector<std::vector<float>>& queries,
                                                std::size_t k) {
  const std::size_t dim = base.dim();
  std::vector<std::vector<Candidate>> best(queries.size());
  std::mutex merge;
  for_each_row_range(base.rows(), [&](std::size_t first, std::size_t count) {
    // A max-heap per query: its front is the worst of the k kept.
    std::vector<std::vector<Candidate>> heaps(queries.size());
    std::vector<double> l2(queries.size());
    for (std::size_t r = first; r < first + count; ++r) {
      const auto* row = reinterpret_cast<const T*>(base.row(r).data());
      // Element-major: the queries' sums are independent chains, each still summed in
      // element order.
      std::fill(l2.begin(), l2.end(), 0.0);
      for (std::size_t j = 0; j < dim; ++j) {
        const auto x = static_cast<double>(row[j]);
        for (std::size_t q = 0; q < queries.size(); ++q) {
          const double d = static_cast<double>(queries[q][j]) - x;
          l2[q] += d * d;
        }
      }
      for (std::size_t q = 0; q < queries.size(); ++q) {
        auto& heap = heaps[q];
        const Candidate c{l2[q], static_cast<std::int64_t>(r)};
        if (heap.size() == k && !(c < heap.front())) continue;
        if (heap.size() == k) {
          std::pop_heap(heap.begin(), heap.end());
          heap.pop_back();
        }
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end());
      }
    }
    const std::lock_guard lock(merge);
    for (std::size_t q = 0; q < queries.size(); ++q)
      best[q].insert(best[q].end(), heaps[q].begin(), heaps[q].end());
  });
  for (auto& list : best) {
    std::sort(list.begin(), list.end());
    list.resize(std::min(list.size(), k));
  }
  return best;
}

std::vector<float> query_row(const std::string& path, std::size_t i) {
  const vecaccel::MappedVectors file(path);
  const std::span<const std::byte> bytes = file.row(i);
  std::vector<float> out(file.dim());
  for (std::size_t j = 0; j < out.size(); ++j) {
    switch (file.element_type()) {
      case ElementType::float32:
        std::memcpy(&out[j], bytes.data() + j * sizeof(float), sizeof(float));
        break;
      case ElementType::uint8:
        out[j] = static_cast<float>(std::to_integer<std::uint8_t>(bytes[j]));
        break;
      case ElementType::int8:
        out[j] =
            static_cast<float>(static_cast<std::int8_t>(std::to_integer<std::uint8_t>(bytes[j])));
        break;
    }
  }
  return out;
}

int check(const std::string& base_path, const std::string& query_path, const std::string& gt_path,
          std::size_t samples) {
  const auto start = Clock::now();
  const vecaccel::MappedVectors base(base_path);
  const vecaccel::GroundTruth gt = vecaccel::read_ground_truth(gt_path);
  const std::size_t nq = gt.ids.rows, k = gt.ids.dim;
  samples = std::min(samples, nq);
  std::vector<std::size_t> which;
  std::vector<std::vector<float>> queries;
  for (std::size_t s = 0; s < samples; ++s) {
    which.push_back(s * nq / samples);
    queries.push_back(query_row(query_path, which.back()));
    if (queries.back().size() != base.dim())
      throw std::invalid_argument("query and base dims differ");
  }
  const auto truth =
      base.element_type() == ElementType::float32 ? brute_force<float>(base, queries, k)
      : base.element_type() == ElementType::uint8 ? brute_force<std::uint8_t>(base, queries, k)
                                                  : brute_force<std::int8_t>(base, queries, k);
  std::string difference;
  for (std::size_t s = 0; s < samples && difference.empty(); ++s) {
    for (std::size_t i = 0; i < k && difference.empty(); ++i) {
      const std::size_t q = which[s];
      const std::int32_t label = gt.ids.row(q)[i];
      const float value = gt.distances.row(q)[i];
      const auto [exact, expected] = truth[s][i];
      const auto rounded = static_cast<float>(exact);
      if (label != expected || (value != rounded && std::nextafter(value, rounded) != rounded)) {
        difference = "query " + std::to_string(q) + " position " + std::to_string(i) + ": id " +
                     std::to_string(label) + " distance " + std::to_string(value) +
                     ", float64 brute force: id " + std::to_string(expected) + " distance " +
                     std::to_string(exact);
      }
    }
  }
  std::printf(
      "{\"case\": \"check\", \"base_rows\": %zu, \"dim\": %zu, \"queries\": %zu, \"k\": %zu, "
      "\"sampled\": %zu, \"check_s\": %.1f, \"equal\": %s, \"difference\": \"%s\"}\n",
      base.rows(), base.dim(), nq, k, samples, seconds_since(start),
      difference.empty() ? "true" : "false", difference.c_str());
  return difference.empty() ? 0 : 1;
}

int write(const std::string& path, const std::string& spec, std::uint64_t seed) {
  const std::size_t a = spec.find(':'), b = spec.rfind(':');
  if (a == std::string::npos || a == b)
    throw std::invalid_argument("need TYPE:ROWS:DIM, got " + spec);
  const std::string type = spec.substr(0, a);
  const std::size_t rows = std::stoull(spec.substr(a + 1, b - a - 1));
  const std::size_t dim = std::stoull(spec.substr(b + 1));
  const auto start = Clock::now();
  if (type == "float32") {
    write_base<float>(path, rows, dim, seed);
  } else if (type == "uint8") {
    write_base<std::uint8_t>(path, rows, dim, seed);
  } else if (type == "int8") {
    write_base<std::int8_t>(path, rows, dim, seed);
  } else {
    throw std::invalid_argument("unknown TYPE " + type);
  }
  const double s = seconds_since(start);
  const double gb = static_cast<double>(vecaccel::MappedVectors(path).row_bytes() * rows) / 1e9;
  std::printf(
      "{\"case\": \"write\", \"file\": \"%s\", \"rows\": %zu, \"dim\": %zu, \"gb\": %.2f, "
      "\"write_s\": %.1f, \"gb_per_s\": %.2f}\n",
      path.c_str(), rows, dim, gb, s, gb / s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "write" && argc == 5) return write(argv[2], argv[3], std::stoull(argv[4]));
  if (mode == "check" && argc == 6) return check(argv[2], argv[3], argv[4], std::stoull(argv[5]));
  std::fprintf(stderr,
               "usage: %s write FILE TYPE:ROWS:DIM SEED\n"
               "       %s check BASE QUERY GT SAMPLES\n",
               argv[0], argv[0]);
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_stream: %s\n", e.what());
  return 1;
}
