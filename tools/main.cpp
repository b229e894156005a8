// vecaccel: command-line front end. Errors print one line on stderr; exit status 1 for a
// failure, 2 for a usage error.
#include <cstdio>

#include "commands.hpp"
#include "vecaccel/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vecaccel: explicit GPU compute context and exact vector search on Vulkan"};
  app.require_subcommand(1);
  vecaccel::cli::add_info_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const vecaccel::Error& e) {
    std::fprintf(stderr, "vecaccel: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vecaccel: %s\n", e.what());
    return 1;
  }
  return 0;
}
