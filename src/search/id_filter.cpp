#include "vecaccel/id_filter.hpp"

#include <algorithm>
#include <string>

#include "vecaccel/error.hpp"

namespace vecaccel {
namespace {

std::vector<std::int64_t> sorted_unique(std::span<const std::int64_t> ids) {
  std::vector<std::int64_t> out(ids.begin(), ids.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

IdFilter IdFilter::allow(std::span<const std::int64_t> ids) {
  return IdFilter(
      std::make_shared<const Data>(Data{.kind = Kind::allow, .ids = sorted_unique(ids)}));
}

IdFilter IdFilter::deny(std::span<const std::int64_t> ids) {
  return IdFilter(
      std::make_shared<const Data>(Data{.kind = Kind::deny, .ids = sorted_unique(ids)}));
}

IdFilter IdFilter::bitset(std::span<const bool> allowed) {
  // Read as bytes: a mask from another language (numpy's view of a uint8 array, a C buffer)
  // may hold bools other than 0 and 1, which any nonzero byte means.
  const auto* bytes = reinterpret_cast<const unsigned char*>(allowed.data());
  std::vector<std::uint64_t> words((allowed.size() + 63) / 64, 0);
  for (std::size_t i = 0; i < allowed.size(); ++i)
    words[i / 64] |= std::uint64_t{bytes[i] != 0} << (i % 64);
  return IdFilter(std::make_shared<const Data>(
      Data{.kind = Kind::bits, .words = std::move(words), .size = allowed.size()}));
}

IdFilter IdFilter::bitset(std::span<const std::uint64_t> words, std::size_t size) {
  if (words.size() < (size + 63) / 64) {
    throw Error(Errc::invalid_argument, "IdFilter::bitset: " + std::to_string(words.size()) +
                                            " words hold fewer than the " + std::to_string(size) +
                                            " bits stated");
  }
  std::vector<std::uint64_t> kept(words.begin(),
                                  words.begin() + static_cast<std::ptrdiff_t>((size + 63) / 64));
  if (size % 64 != 0) kept.back() &= (std::uint64_t{1} << (size % 64)) - 1;
  return IdFilter(std::make_shared<const Data>(
      Data{.kind = Kind::bits, .words = std::move(kept), .size = size}));
}

bool IdFilter::allows(std::int64_t id) const noexcept {
  if (id < 0) return false;
  switch (data_->kind) {
    case Kind::allow:
      return std::binary_search(data_->ids.begin(), data_->ids.end(), id);
    case Kind::deny:
      return !std::binary_search(data_->ids.begin(), data_->ids.end(), id);
    case Kind::bits: {
      const auto i = static_cast<std::uint64_t>(id);
      return i < data_->size && ((data_->words[i / 64] >> (i % 64)) & 1u) != 0;
    }
  }
  return false;
}

bool IdFilter::is_allow_list() const noexcept {
  return data_->kind == Kind::allow;
}

bool IdFilter::operator==(const IdFilter& other) const noexcept {
  if (data_ == other.data_) return true;
  const Data& a = *data_;
  const Data& b = *other.data_;
  return a.kind == b.kind && a.size == b.size && a.ids == b.ids && a.words == b.words;
}

std::span<const std::int64_t> IdFilter::allowed_ids() const noexcept {
  if (data_->kind != Kind::allow) return {};
  return data_->ids;
}

}  // namespace vecaccel
