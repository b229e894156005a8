#pragma once
// The vecaccel command-line tool: one function per subcommand that adds its options and the
// callback that runs it. Callbacks report failures by throwing: vecaccel::Error (exit 1),
// UsageError (exit 2) or Interrupted (exit 128 + signal); main prints the one-line message.

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

namespace vecaccel::cli {

/// A usage error found after parsing (an argument out of range for the data, a bad output
/// extension): exit status 2, like CLI11's own parse errors.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The command stopped on SIGINT or SIGTERM (after removing its temporary files): exit status
/// 128 + the signal (130, 143), as a shell reports a process the signal killed.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& message)
      : std::runtime_error(message), signal_(signal) {}
  int signal() const noexcept { return signal_; }

 private:
  int signal_;
};

/// The error a stop by `signal` (SIGINT or SIGTERM) is reported as (signal_stop.cpp).
Interrupted interrupted(int signal);

/// Another MPI rank failed first and printed why: exit with its status without a message.
class QuietExit : public std::runtime_error {
 public:
  explicit QuietExit(int status) : std::runtime_error("another rank failed"), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

/// `vecaccel info`: devices, their capabilities and explicit-model support.
void add_info_command(CLI::App& app);
/// `vecaccel search`: exact kNN of a query file against a base file, with optional outputs
/// and recall against ground truth.
void add_search_command(CLI::App& app);
/// `vecaccel graph`: the exact self-kNN graph of a vector file (each row's k nearest other rows).
void add_graph_command(CLI::App& app);
/// `vecaccel bench`: synthetic end-to-end benchmark of FlatIndex search.
void add_bench_command(CLI::App& app);
/// `vecaccel demo`: a built-in clustered data set, searched and checked against the CPU.
void add_demo_command(CLI::App& app);

}  // namespace vecaccel::cli
