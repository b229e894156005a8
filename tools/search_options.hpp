#pragma once
// What `vecaccel search` is asked (its options) and what one run reports.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vecaccel::cli {

using Clock = std::chrono::steady_clock;

struct SearchOptions {
  std::string base;
  std::string query;
  std::size_t k = 0;  // 0: not given (a --radius search)
  std::string metric = "l2";
  std::string output;
  std::string distances;
  std::string gt;
  std::size_t batch = 4096;
  std::string devices;                // empty: one device, Context's choice
  std::string filter;                 // --filter: a file of the base rows a search may return
  std::vector<std::int64_t> allowed;  // --filter's ids once read (labels of the search)
  std::optional<double> radius;       // --radius: every row within it instead of the k nearest
  std::string lims;                   // --lims: each query's offsets into a range search's outputs
  std::optional<std::size_t> max_results;  // --max-results; default_max_range_results
  bool json = false;
  bool quiet = false;
};

struct Recall {
  std::size_t at = 0;
  double value = 0;
};

struct SearchRun {
  std::string device;
  std::size_t base_rows = 0;
  std::size_t dim = 0;
  std::size_t queries = 0;
  double add_ms = 0;
  double search_ms = 0;
  std::size_t range_results = 0;  // a --radius search's results, all queries together
  std::size_t passes = 0;         // base passes of a streamed search; 0: the base was held whole
  std::uint64_t budget = 0;       // the device memory budget a streamed search was sized from
  std::vector<Recall> recalls;
};

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace vecaccel::cli
