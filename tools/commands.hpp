#pragma once
// The vecaccel command-line tool: one function per subcommand that adds its options and the
// callback that runs it. Callbacks report failures by throwing: vecaccel::Error (exit 1) or
// UsageError (exit 2); main prints the one-line message.

#include <CLI/CLI.hpp>

#include <stdexcept>

namespace vecaccel::cli {

/// A usage error found after parsing (an argument out of range for the data, a bad output
/// extension): exit status 2, like CLI11's own parse errors.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// `vecaccel info`: devices, their capabilities and explicit-model support.
void add_info_command(CLI::App& app);
/// `vecaccel search`: exact kNN of a query file against a base file, with optional outputs
/// and recall against ground truth.
void add_search_command(CLI::App& app);
/// `vecaccel bench`: synthetic end-to-end benchmark of FlatIndex search.
void add_bench_command(CLI::App& app);
/// `vecaccel demo`: a built-in clustered data set, searched and checked against the CPU.
void add_demo_command(CLI::App& app);

}  // namespace vecaccel::cli
