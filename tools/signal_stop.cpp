#include "signal_stop.hpp"

#include <pthread.h>

#include <string>
#include <system_error>

#include "commands.hpp"

namespace vecaccel::cli {

Interrupted interrupted(int signal) {
  return Interrupted(signal, std::string("interrupted by ") +
                                 (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                                 ": stopped without writing any output");
}

SignalStop::SignalStop() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  if (const int err = pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_); err != 0) {
    throw std::system_error(err, std::generic_category(), "cannot block SIGINT and SIGTERM");
  }
  try {
    watcher_ = std::thread([this] { watch(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    throw;
  }
}

SignalStop::~SignalStop() {
  // Wakes the watcher with a signal aimed at its thread alone; a real signal arriving in this
  // instant is taken instead and dropped, which is harmless: the command is over.
  closing_ = true;
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
  // A signal sent after the command's last check waits, blocked, for this thread: taken here,
  // it is dropped like the one above. Restoring the mask with it pending would let it kill a
  // process whose work is complete (found under load: test_cli's signal during the outputs).
  const timespec now{};
  while (sigtimedwait(&signals_, nullptr, &now) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void SignalStop::watch() {
  for (;;) {
    int received = 0;
    if (sigwait(&signals_, &received) != 0) continue;
    if (closing_) return;
    int none = 0;
    signal_.compare_exchange_strong(none, received);
    source_.request_stop();
  }
}

}  // namespace vecaccel::cli
