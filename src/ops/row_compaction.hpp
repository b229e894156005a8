#pragma once
// Removing rows from chunked device storage: the surviving rows move down on the GPU so that
// they stay back to back in their order, every chunk but the last full (the layout FlatIndex
// reads a row's chunk from: position / chunk_rows).
//
// A row only ever moves to a smaller position, so destination rows [a, b) are filled from
// rows at a or later: each slice of destinations is gathered into a scratch buffer first and
// then copied over, and no later slice reads what an earlier one wrote.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base_upload.hpp"
#include "knn_engine.hpp"
#include "vecaccel/buffer.hpp"
#include "vecaccel/context.hpp"

namespace vecaccel::detail {

/// Rows [from, from + count) go to [to, to + count) (global positions, to < from).
struct RowMove {
  std::size_t from = 0;
  std::size_t to = 0;
  std::size_t count = 0;
};

/// The moves that close the gaps left by removing the rows where keep is false, in order of
/// destination; rows before the first removed one stay where they are and need none.
std::vector<RowMove> compaction_moves(std::span<const bool> keep);

/// One per-row array of the storage: chunk i's rows in chunks[i], row_bytes each.
struct RowPlane {
  std::vector<Buffer> chunks;
  std::uint64_t row_bytes = 0;
};

/// Applies the moves to every plane on the GPU (chunk c holds global rows [c * chunk_rows,
/// (c + 1) * chunk_rows)), through a device-local scratch buffer of at most slice_bytes, and
/// waits for it.
void compact_rows(Context& context, std::span<const RowPlane> planes, std::size_t chunk_rows,
                  std::span<const RowMove> moves,
                  std::uint64_t slice_bytes = std::uint64_t{16} << 20);

/// Per chunk that holds rows after the moves (survivors / chunk_rows, rounded up), the last
/// chunk its rows come from: they come from it and the chunks between (>= its own index).
std::vector<std::size_t> last_source_chunks(std::span<const RowMove> moves, std::size_t chunk_rows,
                                            std::size_t survivors);

/// Removes the rows where keep is false (keep.size(): the chunks' rows) from float32 chunks of
/// rows of `dim`: vectors, norms and the float16 copy where chunks keep one (copied where every
/// chunk has one, else made again from the moved rows). Chunks left empty are dropped; each
/// chunk's max_norm stays an upper bound of its rows' norms (the largest of the chunks its
/// rows came from).
void remove_rows(Context& context, std::vector<BaseChunk>& chunks, std::span<const bool> keep,
                 std::size_t chunk_rows, std::size_t dim);
/// The same for uint8/int8 chunks (dim bytes a row).
void remove_rows(Context& context, std::vector<CompactChunk>& chunks, std::span<const bool> keep,
                 std::size_t chunk_rows, std::size_t dim);

}  // namespace vecaccel::detail
