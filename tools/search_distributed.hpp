#pragma once
// `mpirun -np R vecaccel search`: each rank searches its share of the base, rank 0 merges.

#include <exception>

#include "cluster.hpp"
#include "commands.hpp"
#include "search_options.hpp"
#include "signal_stop.hpp"

namespace vecaccel::cli {

/// The error a stop by `signal` (SIGINT or SIGTERM) is reported as.
Interrupted interrupted(int signal);

/// The exit status an error gives: 2 for usage, 128 + signal when interrupted, else 1.
int exit_status(const std::exception_ptr& error);

/// Runs step on every rank, then agrees: when any rank failed, the lowest failing one rethrows
/// its error (main prints it, once) and the others exit with its status silently. Every rank
/// reaches every collective, so a failure never leaves ranks waiting for each other.
template <class Step>
void on_all_ranks(Cluster& cluster, const SignalStop& signals, Step step) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    // Whatever a signal made fail, the rank reports the signal.
    const int signal = signals.signal();
    error = signal != 0 ? std::make_exception_ptr(interrupted(signal)) : std::current_exception();
  }
  const auto [rank, status] = cluster.first_failure(error ? exit_status(error) : 0);
  if (rank < 0) return;
  if (rank == cluster.rank()) std::rethrow_exception(error);
  throw QuietExit(status);
}

/// `mpirun -np R vecaccel search ...`: each rank searches its slice of the base on its own
/// GPU (the host's devices, by the rank's position on the host), the top k are merged exactly
/// on rank 0, which alone writes outputs and prints the report.
void search_distributed(const SearchOptions& shared, const SignalStop& signals, Cluster& cluster);

}  // namespace vecaccel::cli
