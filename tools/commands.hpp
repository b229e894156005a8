#pragma once
// The vecaccel command-line tool: one function pair per subcommand (add options, run).

#include <CLI/CLI.hpp>

namespace vecaccel::cli {

/// `vecaccel info`: devices, their capabilities and explicit-model support.
void add_info_command(CLI::App& app);

}  // namespace vecaccel::cli
