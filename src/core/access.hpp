#pragma once
// detail::Access: how the library's own code (and its tests) reaches the implementation behind
// a public handle (Device, Buffer, CommandQueue, ...). The handles keep impl() private, so a
// client sees only the API; this struct is their one friend.

namespace vecaccel::detail {

struct Access {
  template <class Handle>
  static const auto& impl(const Handle& handle) noexcept {
    return handle.impl();
  }
};

}  // namespace vecaccel::detail
