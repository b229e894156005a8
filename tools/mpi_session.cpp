// The processes of a tool built with MPI (VECACCEL_WITH_MPI): the ranks of MPI_COMM_WORLD.
#include <mpi.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <initializer_list>

#include "mpi_session.hpp"

namespace vecaccel::cli {
namespace {

bool started_by_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

/// Blocks SIGINT and SIGTERM in the calling thread while it lives. Around MPI_Init: the
/// threads the MPI runtime starts there inherit the mask. With the signals open in them, the
/// kernel could hand a SIGTERM to one of those threads, which killed the rank before
/// SignalStop's watcher took it (mpirun: "exited on signal 15"; the tool said nothing).
class StopSignalsBlocked {
 public:
  StopSignalsBlocked() {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask_);
  }
  ~StopSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }
  StopSignalsBlocked(const StopSignalsBlocked&) = delete;
  StopSignalsBlocked& operator=(const StopSignalsBlocked&) = delete;

 private:
  sigset_t old_mask_{};
};

bool mpi_running() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized != 0 && finalized == 0;
}

}  // namespace

int world_rank() {
  int rank = 0;
  if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  if (mpi_running()) MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

MpiSession::MpiSession(int& argc, char**& argv) {
  // A plain run never starts MPI: singleton initialisation costs time and prints warnings on
  // hosts without a network MPI likes.
  if (!started_by_launcher()) return;
  {
    const StopSignalsBlocked blocked;
    MPI_Init(&argc, &argv);
  }
  // A failing collective returns its error (vecaccel::mpi throws it) instead of aborting the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiSession::~MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return;
  MPI_Finalize();
}

void check_launch() {}

}  // namespace vecaccel::cli
