// The cluster of a tool built without MPI: always this process alone.
#include <cstdlib>
#include <string>

#include "cluster.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::cli {

Cluster* cluster() {
  return nullptr;
}

MpiSession::MpiSession(int&, char**&) {}
// NOLINTNEXTLINE(performance-trivially-destructible): the MPI build's destructor ends MPI
MpiSession::~MpiSession() = default;

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

}  // namespace vecaccel::cli
