#include "bus_error_guard.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace vecaccel::cli {
namespace {

// Written before the handler is installed, read only by it.
std::array<char, 4096> message{};
std::size_t message_length = 0;

extern "C" void on_bus_error(int /*signal*/) {
  // write() and _exit() are async-signal-safe; a short write leaves the exit status right.
  (void)!::write(STDERR_FILENO, message.data(), message_length);
  ::_exit(1);
}

}  // namespace

BusErrorGuard::BusErrorGuard(const std::string& path) {
  const std::string text = "vecaccel: io_error: " + path +
                           ": a page of the mapped file could not be read (the file was "
                           "truncated or changed while the search read it, or the disk failed)\n";
  message_length = std::min(text.size(), message.size());
  std::memcpy(message.data(), text.data(), message_length);
  struct sigaction action {};
  action.sa_handler = on_bus_error;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGBUS, &action, &previous_);
}

BusErrorGuard::~BusErrorGuard() {
  ::sigaction(SIGBUS, &previous_, nullptr);
}

}  // namespace vecaccel::cli
