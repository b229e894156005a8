// vecaccel: command-line front end. Errors print one line on stderr; exit status 1 for a
// failure, 2 for a usage error, 130 / 143 when SIGINT / SIGTERM stopped `search`.
#include <cstdio>

#include "commands.hpp"
#include "mpi_session.hpp"
#include "vecaccel/error.hpp"

int main(int argc, char** argv) {
  // Before parsing: MPI_Init may take its own arguments out of argv.
  const vecaccel::cli::MpiSession mpi(argc, argv);
  // Every rank parses the same arguments: only rank 0 reports a parse error.
  const bool speaks = vecaccel::cli::world_rank() == 0;
  CLI::App app{"vecaccel: explicit GPU compute context and exact vector search on Vulkan"};
  app.require_subcommand(1);
  vecaccel::cli::add_info_command(app);
  vecaccel::cli::add_search_command(app);
  vecaccel::cli::add_graph_command(app);
  vecaccel::cli::add_bench_command(app);
  vecaccel::cli::add_demo_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0 and print to stdout.
    if (e.get_exit_code() == 0) return app.exit(e);
    // CLI11 reports a mistyped command as "A subcommand is required"; name what was typed.
    if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') {
      if (speaks)
        std::fprintf(
            stderr,
            "vecaccel: unknown command '%s' (commands: info, search, graph, bench, demo; see "
            "--help)\n",
            argv[1]);
      return 2;
    }
    // One line, unlike app.exit(), which adds a second "Run with --help" line.
    if (speaks) std::fprintf(stderr, "vecaccel: %s (see --help)\n", e.what());
    return 2;
  } catch (const vecaccel::cli::UsageError& e) {
    std::fprintf(stderr, "vecaccel: %s (see --help)\n", e.what());
    return 2;
  } catch (const vecaccel::cli::QuietExit& e) {
    return e.status();
  } catch (const vecaccel::cli::Interrupted& e) {
    std::fprintf(stderr, "vecaccel: %s\n", e.what());
    return 128 + e.signal();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vecaccel: %s\n", e.what());
    return 1;
  }
  return 0;
}
