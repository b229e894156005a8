#pragma once
// Large host results the library writes once (a kNN search's distances and labels: 120 MB for
// 1,000 queries at k = 10,000) cost more in page faults than in copying, above all in a virtual
// machine: on the H100 machine (Firecracker) zeroing 120 MB of fresh memory took 47 ms. Asking
// the kernel to populate the pages in one call per thread (MADV_POPULATE_WRITE, Linux 5.14)
// skips the fault per page and spreads the work over cores: measured on a 2-core VM, 120 MB in
// 63 ms one fault at a time, 38 ms populated on one thread, 20 ms on two.

#include <cstddef>

namespace vecaccel::detail {

/// Populates the whole pages of [data, data + bytes), memory of the caller's allocation that is
/// about to be written, on up to eight threads. Only a hint: nothing happens below 8 MiB, off
/// Linux, or where the kernel lacks the call; contents are never changed.
void prefault_for_writing(void* data, std::size_t bytes) noexcept;

}  // namespace vecaccel::detail
