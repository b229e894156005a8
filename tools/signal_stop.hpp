#pragma once
// SignalStop: while one lives, SIGINT and SIGTERM do not kill the process but request a stop
// (its token) that the command honours at its next check, so that it can remove its temporary
// files and exit with 128 + the signal, as a shell reports a process the signal killed.
//
// The constructor blocks both signals in the calling thread, so every thread started later
// inherits the mask (construct it before anything starts threads, e.g. the Vulkan driver), and
// a dedicated thread takes them with sigwait: no handler ever runs in signal context, so
// nothing here has to be async-signal-safe and no global state is needed. Signals after the
// first are absorbed while the command unwinds, and so are those that arrive after it ended. The
// destructor restores the signal mask. Use one at a time, constructed and destroyed by the same
// thread.

#include <signal.h>

#include <atomic>
#include <stop_token>
#include <thread>

namespace vecaccel::cli {

class SignalStop {
 public:
  SignalStop();
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;
  ~SignalStop();

  std::stop_token token() const noexcept { return source_.get_token(); }
  /// The first SIGINT or SIGTERM received, or 0.
  int signal() const noexcept { return signal_.load(); }

 private:
  void watch();

  sigset_t signals_{};
  sigset_t old_mask_{};
  std::stop_source source_;
  std::atomic<int> signal_{0};
  std::atomic<bool> closing_{false};
  std::thread watcher_;
};

}  // namespace vecaccel::cli
