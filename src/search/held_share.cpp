#include "search/held_share.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "core/timeout_text.hpp"
#include "ops/time_limit.hpp"
#include "search/search_base.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

// Bytes per FlatIndex::add call: bounds the host copy of TEXMEX rows (whose headers sit between
// them) and how long a stop waits.
constexpr std::uint64_t kUploadSliceBytes = std::uint64_t{256} << 20;

/// The error of a row check ("base row <n> ..."), the row numbered from `offset`: an index
/// numbers the rows it was given from 0, the base from its own first row.
Error renumbered(const Error& error, std::size_t offset) {
  if (offset == 0 || (error.code() != Errc::invalid_argument && error.code() != Errc::io_error)) {
    return error;
  }
  const std::string message = message_of(error);
  constexpr std::string_view prefix = "base row ";
  if (message.compare(0, prefix.size(), prefix) != 0) return error;
  std::size_t row = 0;
  const char* number = message.data() + prefix.size();
  const auto [end, failed] = std::from_chars(number, message.data() + message.size(), row);
  if (failed != std::errc{}) return error;
  return Error(error.code(), std::string(prefix) + std::to_string(row + offset) +
                                 std::string(end, message.data() + message.size()));
}

void add_bytes(FlatIndex& index, ElementType type, std::span<const std::byte> bytes) {
  switch (type) {
    case ElementType::float32:
      return index.add(std::span(reinterpret_cast<const float*>(bytes.data()), bytes.size() / 4));
    case ElementType::uint8:
      return index.add(
          std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    case ElementType::int8:
      return index.add(std::span(reinterpret_cast<const std::int8_t*>(bytes.data()), bytes.size()));
  }
}

}  // namespace

void upload_rows(FlatIndex& index, const SearchBase& base, std::size_t first, std::size_t rows,
                 const Deadline& deadline, const Advance& advance) {
  const RowSource source = row_source(base);
  const std::size_t row_bytes = source.row_bytes();
  const std::size_t slice_rows = std::max<std::size_t>(1, kUploadSliceBytes / row_bytes);
  const std::size_t label = base.first_row() + first;
  std::vector<std::byte> copied;
  for (std::size_t done = 0; done < rows; done += slice_rows) {
    deadline.check_stop(std::to_string(done) + " of " + std::to_string(rows) + " rows uploaded");
    const std::size_t n = std::min(slice_rows, rows - done);
    std::span<const std::byte> bytes = source.view(label + done, n);
    if (bytes.empty()) {
      copied.resize(n * row_bytes);
      source.copy(label + done, n, copied.data());
      bytes = copied;
    }
    try {
      add_bytes(index, base.element_type(), bytes);
    } catch (const Error& e) {
      throw renumbered(e, label);
    }
    if (advance) advance(done + n);
  }
}

void drain(Context& context) noexcept {
  try {
    context.execute_and_wait([](CommandBuffer&, ComputeEncoder&) {}, without_time_limit());
  } catch (const std::exception&) {  // device lost: nothing runs any more
  }
}

KnnResult search_in_batches(const FlatIndex& index, MatrixView<const float> queries, std::size_t k,
                            std::size_t query_batch, const Deadline& deadline,
                            const Advance& advance, const IdFilter* filter) {
  const std::size_t dim = queries.dim();
  KnnResult out{.rows = queries.rows(), .k = k};
  out.distances.reserve(queries.rows() * k);
  out.labels.reserve(queries.rows() * k);
  for (std::size_t row = 0; row < queries.rows(); row += query_batch) {
    deadline.check_stop(std::to_string(row) + " of " + std::to_string(queries.rows()) + " queries");
    const std::size_t n = std::min(query_batch, queries.rows() - row);
    const auto some = queries.data().subspan(row * dim, n * dim);
    const KnnResult batch = filter != nullptr
                                ? index.search(some, k, *filter, deadline.execute_options())
                                : index.search(some, k, deadline.execute_options());
    out.distances.insert(out.distances.end(), batch.distances.begin(), batch.distances.end());
    out.labels.insert(out.labels.end(), batch.labels.begin(), batch.labels.end());
    out.second_pass_queries += batch.second_pass_queries;
    out.direct_pass_queries += batch.direct_pass_queries;
    if (advance) advance(row + n);
  }
  return out;
}

}  // namespace vecaccel::detail
