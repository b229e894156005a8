#pragma once
// BusErrorGuard: while one lives, a SIGBUS (a mapped file's page that can no longer be read:
// the file was truncated or its disk failed while the search read it) ends the process with
// a one-line io_error naming the file and exit status 1, where it would otherwise die with
// "Bus error" and no word on why. Outputs are written only after the search, so none is left
// half-written.
//
// A SIGBUS is delivered to the faulting thread, in the middle of a memory access: the handler
// can only write the message, prepared beforehand, and _exit. The message lives in global
// storage because a signal handler reaches nothing else. One guard at a time; the destructor
// restores the previous handler.

#include <signal.h>

#include <string>

namespace vecaccel::cli {

class BusErrorGuard {
 public:
  /// `path`: the mapped file the message names.
  explicit BusErrorGuard(const std::string& path);
  BusErrorGuard(const BusErrorGuard&) = delete;
  BusErrorGuard& operator=(const BusErrorGuard&) = delete;
  ~BusErrorGuard();

 private:
  struct sigaction previous_ {};
};

}  // namespace vecaccel::cli
