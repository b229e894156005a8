#pragma once
// The processes of one `vecaccel` run: MPI ranks when the tool was built with MPI
// (VECACCEL_WITH_MPI; mpi_session.cpp) and started by an MPI launcher, else this process alone
// (no_mpi.cpp). The search over the ranks is the library's (vecaccel/mpi.hpp).
//
// MPI is process-wide state: MpiSession lives for main(), and the functions below ask MPI (not
// a copy of their own) from the thread that created the session.

namespace vecaccel::cli {

struct SearchOptions;

/// Starts MPI when this process was started by an MPI launcher (and the tool has MPI), ends
/// it when destroyed.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

/// This process's rank and the number of ranks: 0 and 1 when it runs alone.
int world_rank();
int world_size();

/// Throws Errc::unsupported when an MPI launcher started several ranks of a tool built
/// without MPI: each rank would search the whole base and write the same outputs.
void check_launch();

/// `mpirun -np R vecaccel search` (search_distributed.cpp): each rank searches its share of the
/// base, rank 0 merges and writes; true once done. False when this process runs alone (the
/// caller searches); check_launch() first.
bool search_on_ranks(const SearchOptions& options);

}  // namespace vecaccel::cli
