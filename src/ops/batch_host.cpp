#include "batch_host.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "row_staging.hpp"
#include "util/prefault.hpp"
#include "work_crew.hpp"

namespace vecaccel::detail {

KnnResult reserved_result(std::size_t rows, std::size_t k) {
  KnnResult result{.rows = rows, .k = k};
  result.distances.reserve(rows * k);
  result.labels.reserve(rows * k);
  return result;
}

void stage_queries(std::span<const float> queries, std::span<std::byte> mapped, std::size_t dim,
                   Metric metric, std::size_t first_query, const RowCentre* centre,
                   std::span<double> query_norms, std::span<double> centred_norms) {
  constexpr std::size_t min_values_per_thread = std::size_t{1} << 18;
  const std::size_t rows = queries.size() / dim;
  const std::size_t row_bytes = dim * sizeof(float);
  WorkCrew crew(WorkCrew::threads_for(queries.size(), min_values_per_thread));
  crew.run(rows, [&](std::size_t begin, std::size_t end) {
    const auto part = queries.subspan(begin * dim, (end - begin) * dim);
    const std::vector<double> part_norms = stage_rows(part, mapped.subspan(begin * row_bytes), dim,
                                                      metric, "query", first_query + begin);
    std::ranges::copy(part_norms, query_norms.subspan(begin).begin());
    if (centre == nullptr) return;
    const std::vector<double> centred =
        stage_centred_rows(part, mapped.subspan((rows + begin) * row_bytes), dim, *centre);
    std::ranges::copy(centred, centred_norms.subspan(begin).begin());
  });
}

void grow_result(KnnResult& result, std::size_t entries) {
  const std::size_t from = result.distances.size();
  if (entries <= from || entries > result.distances.capacity()) {
    result.distances.resize(entries);
    result.labels.resize(entries);
    return;
  }
  prefault_for_writing(result.distances.data() + from, (entries - from) * sizeof(float));
  prefault_for_writing(result.labels.data() + from, (entries - from) * sizeof(std::int64_t));
  result.distances.resize(entries);
  result.labels.resize(entries);
}

void copy_results(const BufferToken& readback, std::size_t n, std::size_t first,
                  KnnResult& result) {
  constexpr std::size_t min_entries_per_thread = std::size_t{1} << 20;
  const std::span<const std::byte> bytes = readback.buffer().mapped();
  const auto* values = reinterpret_cast<const float*>(bytes.data());
  const auto* labels = reinterpret_cast<const std::int32_t*>(bytes.data() + n * sizeof(float));
  float* to_values = result.distances.data() + first;
  std::int64_t* to_labels = result.labels.data() + first;
  WorkCrew crew(WorkCrew::threads_for(n, min_entries_per_thread));
  crew.run(n, [&](std::size_t begin, std::size_t end) {
    std::copy(values + begin, values + end, to_values + begin);
    std::copy(labels + begin, labels + end, to_labels + begin);
  });
}

}  // namespace vecaccel::detail
