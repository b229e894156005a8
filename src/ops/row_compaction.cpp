#include "row_compaction.hpp"

#include <algorithm>
#include <type_traits>

#include "kernels.hpp"
#include "ops/time_limit.hpp"
#include "vecaccel/residency_manager.hpp"

namespace vecaccel::detail {
namespace {

/// Calls piece(chunk, row in chunk, offset, n) for the pieces of global rows [first, first +
/// count) that lie in one chunk each; offset counts rows from `first`.
template <class Piece>
void for_each_chunk_piece(std::size_t first, std::size_t count, std::size_t chunk_rows,
                          Piece&& piece) {
  for (std::size_t done = 0; done < count;) {
    const std::size_t row = first + done;
    const std::size_t n = std::min(count - done, chunk_rows - row % chunk_rows);
    piece(row / chunk_rows, row % chunk_rows, done, n);
    done += n;
  }
}

/// Records the gathering of destination rows [a, b) from their sources into scratch (row a
/// at 0), then their copy from scratch into place.
void encode_slice(ComputeEncoder& encoder, const RowPlane& plane, std::size_t chunk_rows,
                  std::span<const RowMove> moves, std::size_t a, std::size_t b,
                  const Buffer& scratch) {
  const std::uint64_t row_bytes = plane.row_bytes;
  for (const RowMove& move : moves) {
    const std::size_t lo = std::max(a, move.to);
    const std::size_t hi = std::min(b, move.to + move.count);
    if (lo >= hi) continue;
    for_each_chunk_piece(
        move.from + (lo - move.to), hi - lo, chunk_rows,
        [&](std::size_t chunk, std::size_t row, std::size_t offset, std::size_t n) {
          encoder.copy_buffer(plane.chunks[chunk], row * row_bytes, scratch,
                              (lo - a + offset) * row_bytes, n * row_bytes);
        });
  }
  // Global: the copies back write rows of the chunks the gathering read (and the scratch).
  encoder.barrier(Stage::blit, Stage::blit);
  for_each_chunk_piece(a, b - a, chunk_rows,
                       [&](std::size_t chunk, std::size_t row, std::size_t offset, std::size_t n) {
                         encoder.copy_buffer(scratch, offset * row_bytes, plane.chunks[chunk],
                                             row * row_bytes, n * row_bytes);
                       });
}

}  // namespace

std::vector<RowMove> compaction_moves(std::span<const bool> keep) {
  std::vector<RowMove> moves;
  std::size_t to = 0;
  for (std::size_t from = 0; from < keep.size(); ++from) {
    if (!keep[from]) continue;
    if (to != from) {
      if (!moves.empty() && moves.back().from + moves.back().count == from) {
        ++moves.back().count;
      } else {
        moves.push_back({from, to, 1});
      }
    }
    ++to;
  }
  return moves;
}

void compact_rows(Context& context, std::span<const RowPlane> planes, std::size_t chunk_rows,
                  std::span<const RowMove> moves, std::uint64_t slice_bytes) {
  if (moves.empty()) return;
  const std::size_t first = moves.front().to;
  const std::size_t end = moves.back().to + moves.back().count;
  ResidencyManager& residency = context.residency_manager();
  for (const RowPlane& plane : planes) {
    const std::size_t slice_rows =
        static_cast<std::size_t>(std::max<std::uint64_t>(1, slice_bytes / plane.row_bytes));
    // Device-local: the rows never pass through host memory.
    const Buffer scratch = context.buffer_factory().make_buffer(
        {.size = std::min(slice_rows, end - first) * plane.row_bytes,
         .storage = StorageMode::private_,
         .label = "row compaction scratch"});
    residency.register_buffer(scratch, ResidencyMode::ephemeral);
    residency.commit();
    std::size_t next = 0;  // the first move not wholly below the slice
    for (std::size_t a = first; a < end; a += slice_rows) {
      const std::size_t b = std::min(end, a + slice_rows);
      while (moves[next].to + moves[next].count <= a)
        ++next;
      std::size_t stop = next;
      while (stop < moves.size() && moves[stop].to < b)
        ++stop;
      context.execute_and_wait(
          [&](CommandBuffer&, ComputeEncoder& encoder) {
            encode_slice(encoder, plane, chunk_rows, moves.subspan(next, stop - next), a, b,
                         scratch);
          },
          without_time_limit());
    }
    residency.unregister_buffer(scratch);
    residency.commit();
  }
}

std::vector<std::size_t> last_source_chunks(std::span<const RowMove> moves, std::size_t chunk_rows,
                                            std::size_t survivors) {
  std::vector<std::size_t> last((survivors + chunk_rows - 1) / chunk_rows);
  for (std::size_t c = 0; c < last.size(); ++c)
    last[c] = c;
  for (const RowMove& move : moves) {
    for_each_chunk_piece(move.to, move.count, chunk_rows,
                         [&](std::size_t chunk, std::size_t, std::size_t offset, std::size_t n) {
                           const std::size_t source = (move.from + offset + n - 1) / chunk_rows;
                           last[chunk] = std::max(last[chunk], source);
                         });
  }
  return last;
}

namespace {

/// After the moves: each kept chunk's row count (all full but the last) and largest norms (the
/// largest of the chunks its rows came from); chunks left empty are dropped.
template <class Chunk>
void settle_chunks(std::vector<Chunk>& chunks, std::span<const RowMove> moves,
                   std::size_t chunk_rows, std::size_t survivors) {
  const std::vector<std::size_t> last = last_source_chunks(moves, chunk_rows, survivors);
  for (std::size_t c = 0; c < last.size(); ++c) {
    for (std::size_t source = c + 1; source <= last[c]; ++source) {
      chunks[c].max_norm = std::max(chunks[c].max_norm, chunks[source].max_norm);
      if constexpr (std::is_same_v<Chunk, BaseChunk>) {
        // Rows copied about another centre (or none) are bounded through their plain norms.
        const BaseChunk& from = chunks[source];
        chunks[c].max_half_error = std::max(chunks[c].max_half_error, from.max_half_error);
        if (chunks[c].centre)
          chunks[c].max_centred_norm =
              std::max(chunks[c].max_centred_norm,
                       from.centre == chunks[c].centre
                           ? from.max_centred_norm
                           : centred_norm_bound(from.max_norm, *chunks[c].centre));
      }
    }
    chunks[c].rows = std::min(chunk_rows, survivors - c * chunk_rows);
  }
  chunks.resize(last.size());
}

template <class Chunk, class Member>
RowPlane plane_of(const std::vector<Chunk>& chunks, Member member, std::uint64_t row_bytes) {
  RowPlane plane{.chunks = {}, .row_bytes = row_bytes};
  for (const Chunk& chunk : chunks)
    plane.chunks.push_back(chunk.*member);
  return plane;
}

/// Makes the float16 copy of the rows that moved into each chunk keeping one, and folds the
/// copy's errors of those rows into the chunk's.
void remake_halves(Context& context, std::vector<BaseChunk>& chunks, std::size_t first_moved,
                   std::size_t chunk_rows, std::size_t dim) {
  Device device = context.device();
  // The rows of each chunk whose copy is remade: [from, chunk end), from before the end.
  const auto moved_from = [&](std::size_t c) {
    return std::max(c * chunk_rows, first_moved) - c * chunk_rows;
  };
  const auto remade = [&](std::size_t c) {
    return chunks[c].halves.valid() && moved_from(c) < chunks[c].rows;
  };
  context.execute_and_wait(
      [&](CommandBuffer&, ComputeEncoder& encoder) {
        for (std::size_t c = 0; c < chunks.size(); ++c) {
          if (!remade(c)) continue;
          encoder.barrier({chunks[c].vectors}, Stage::blit, Stage::dispatch);
          encode_chunk_halves(device, encoder, chunks[c], moved_from(c),
                              chunks[c].rows - moved_from(c), dim);
        }
      },
      without_time_limit());
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (remade(c))
      read_half_errors(context, chunks[c], moved_from(c), chunks[c].rows - moved_from(c));
  }
}

}  // namespace

void remove_rows(Context& context, std::vector<BaseChunk>& chunks, std::span<const bool> keep,
                 std::size_t chunk_rows, std::size_t dim) {
  const std::vector<RowMove> moves = compaction_moves(keep);
  const auto survivors = static_cast<std::size_t>(std::count(keep.begin(), keep.end(), true));
  // Copies move with their rows only where every chunk keeps one, made about the same centre.
  const auto copy_like_first = [&](const BaseChunk& c) {
    return c.halves.valid() && c.centre == chunks.front().centre;
  };
  const bool copies_move =
      !chunks.empty() && std::all_of(chunks.begin(), chunks.end(), copy_like_first);
  std::vector<RowPlane> planes = {plane_of(chunks, &BaseChunk::vectors, dim * sizeof(float)),
                                  plane_of(chunks, &BaseChunk::norms, sizeof(float))};
  if (copies_move) {
    planes.push_back(plane_of(chunks, &BaseChunk::halves, dim * 2));
    planes.push_back(plane_of(chunks, &BaseChunk::half_scales, sizeof(float)));
    planes.push_back(plane_of(chunks, &BaseChunk::half_errors, sizeof(float)));
    if (chunks.front().centre)
      planes.push_back(plane_of(chunks, &BaseChunk::centred_norms, sizeof(float)));
  }
  compact_rows(context, planes, chunk_rows, moves);
  settle_chunks(chunks, moves, chunk_rows, survivors);
  // Rows of a chunk without a copy (or with another centre's) may have moved into one with a
  // copy.
  if (!copies_move && !moves.empty())
    remake_halves(context, chunks, moves.front().to, chunk_rows, dim);
}

void remove_rows(Context& context, std::vector<CompactChunk>& chunks, std::span<const bool> keep,
                 std::size_t chunk_rows, std::size_t dim) {
  const std::vector<RowMove> moves = compaction_moves(keep);
  const auto survivors = static_cast<std::size_t>(std::count(keep.begin(), keep.end(), true));
  compact_rows(context, std::vector<RowPlane>{plane_of(chunks, &CompactChunk::bytes, dim)},
               chunk_rows, moves);
  settle_chunks(chunks, moves, chunk_rows, survivors);
}

}  // namespace vecaccel::detail
