#pragma once
// IdFilter: which ids (labels) a search may return — an allow-list, a deny-list or a bitset.
//
// A filtered search returns exactly what an unfiltered search over the allowed rows alone would
// (exact, ties by id, padded with id -1 and the worst distance when fewer than k rows are
// allowed): a denied row is never a candidate and never counts in the certificate. Ids the
// index does not hold are ignored; a bitset allows no id at or past its end. How a search
// applies it is its own choice and never changes a result: few allowed rows are gathered and
// searched alone (cost grows with the allowed rows), many are masked inside the screen before
// selection.
//
// A value type: copies share one immutable set (cheap to copy and pass), so it is safe to use
// from many threads at once. Lifetime: it owns its ids; the spans it was made from may go.
// Errors: allow() and deny() take any ids (negative ones match nothing).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace vecaccel {

class IdFilter {
 public:
  /// Only these ids (any order, repeats allowed).
  static IdFilter allow(std::span<const std::int64_t> ids);
  /// Every id but these.
  static IdFilter deny(std::span<const std::int64_t> ids);
  /// Id i is allowed when allowed[i] is true; ids at or past allowed.size() are not.
  static IdFilter bitset(std::span<const bool> allowed);
  /// The same from packed bits: id i is allowed when bit i % 64 of words[i / 64] is set and
  /// i < size (invalid_argument when words hold fewer than size bits).
  static IdFilter bitset(std::span<const std::uint64_t> words, std::size_t size);

  /// Whether a search may return `id`.
  bool allows(std::int64_t id) const noexcept;
  /// Whether allows() holds for ids in a known sorted list only (an allow-list): a search may
  /// then visit those ids instead of every row.
  bool is_allow_list() const noexcept;
  /// The ids of an allow-list, ascending and without repeats (empty for other kinds).
  std::span<const std::int64_t> allowed_ids() const noexcept;

  /// Whether both are the same kind over the same ids (bits): copies are equal at once, others
  /// are compared element by element. Concurrent searches of one FlatIndex with equal filters
  /// may share a batch (FlatIndex::set_coalescing_window).
  bool operator==(const IdFilter& other) const noexcept;

 private:
  enum class Kind { allow, deny, bits };
  struct Data {
    Kind kind = Kind::allow;
    std::vector<std::int64_t> ids;  // sorted, unique (allow, deny)
    std::vector<std::uint64_t> words;
    std::size_t size = 0;  // bits
  };
  explicit IdFilter(std::shared_ptr<const Data> data) noexcept : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;
};

}  // namespace vecaccel
