// The processes of a tool built without MPI: always this process alone.
#include <cstdlib>
#include <string>

#include "mpi_session.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::cli {

MpiSession::MpiSession(int&, char**&) {}
// NOLINTNEXTLINE(performance-trivially-destructible): the MPI build's destructor ends MPI
MpiSession::~MpiSession() = default;

int world_rank() {
  return 0;
}

int world_size() {
  return 1;
}

void check_launch() {
  // Open MPI's launcher sets OMPI_COMM_WORLD_SIZE, other launchers PMI_SIZE.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* value = std::getenv(name);
    if (value == nullptr || std::atoi(value) <= 1) continue;
    throw Error(Errc::unsupported,
                std::string("started as one of ") + value +
                    " MPI ranks, but this vecaccel was built without MPI (VECACCEL_WITH_MPI=OFF "
                    "or no MPI found): every rank would search the whole base and write the "
                    "same outputs");
  }
}

bool search_on_ranks(const SearchOptions&) {
  check_launch();
  return false;
}

}  // namespace vecaccel::cli
