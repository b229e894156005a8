#include "io/input_file.hpp"

namespace vecaccel::io {

void check_fits_memory(std::uint64_t bytes, std::string_view name, std::string_view what) {
  const std::uint64_t memory =
      std::uint64_t(::sysconf(_SC_PHYS_PAGES)) * std::uint64_t(::sysconf(_SC_PAGE_SIZE));
  if (bytes <= memory) return;
  fail(Errc::io_error, name,
       cat("a pipe or device is read whole, and ", what, " ", bytes,
           " bytes, more than this machine's memory (", memory, " bytes)"));
}

}  // namespace vecaccel::io
