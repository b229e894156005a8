// The cluster of a tool built with MPI (VECACCEL_WITH_MPI): the ranks of MPI_COMM_WORLD.
#include <mpi.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <string>

#include "cluster.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::cli {
namespace {

// MPI counts are ints: collectives move at most this many elements at a time.
constexpr std::size_t kMaxCount = std::size_t{1} << 26;

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(Errc::io_error, std::string(what) + " failed: " + std::string(text, length));
}

template <class T>
MPI_Datatype datatype();
template <>
MPI_Datatype datatype<float>() {
  return MPI_FLOAT;
}
template <>
MPI_Datatype datatype<double>() {
  return MPI_DOUBLE;
}
template <>
MPI_Datatype datatype<std::int64_t>() {
  return MPI_INT64_T;
}

class MpiCluster final : public Cluster {
 public:
  MpiCluster() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm host;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host),
          "MPI_Comm_split_type");
    MPI_Comm_rank(host, &local_rank_);
    MPI_Comm_free(&host);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  std::pair<int, int> first_failure(int status) override {
    int mine = status != 0 ? rank_ : size_;
    int first = size_;
    check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    if (first == size_) return {-1, 0};
    check(MPI_Bcast(&status, 1, MPI_INT, first, MPI_COMM_WORLD), "MPI_Bcast");
    return {first, status};
  }

  std::vector<std::uint64_t> all_gather(std::uint64_t value) override {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&value, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD),
          "MPI_Allgather");
    return out;
  }

  std::vector<float> gather(std::span<const float> values) override { return gather_of(values); }
  std::vector<double> gather(std::span<const double> values) override { return gather_of(values); }
  std::vector<std::int64_t> gather(std::span<const std::int64_t> values) override {
    return gather_of(values);
  }

 private:
  template <class T>
  std::vector<T> gather_of(std::span<const T> values) {
    const std::size_t n = values.size();
    std::vector<T> out(rank_ == 0 ? n * static_cast<std::size_t>(size_) : 0);
    std::vector<T> piece;
    for (std::size_t first = 0; first < n; first += kMaxCount) {
      const std::size_t count = std::min(kMaxCount, n - first);
      if (rank_ == 0) piece.resize(count * static_cast<std::size_t>(size_));
      check(MPI_Gather(values.data() + first, static_cast<int>(count), datatype<T>(), piece.data(),
                       static_cast<int>(count), datatype<T>(), 0, MPI_COMM_WORLD),
            "MPI_Gather");
      for (std::size_t r = 0; rank_ == 0 && r < static_cast<std::size_t>(size_); ++r) {
        std::copy_n(piece.begin() + static_cast<std::ptrdiff_t>(r * count), count,
                    out.begin() + static_cast<std::ptrdiff_t>(r * n + first));
      }
    }
    return out;
  }

  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
};

// The session's cluster (see cluster.hpp: MPI itself is process-wide); set while MPI runs
// with more than one rank.
std::unique_ptr<MpiCluster> session_cluster;

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

}  // namespace

Cluster* cluster() {
  return session_cluster.get();
}

MpiSession::MpiSession(int& argc, char**& argv) {
  // A plain run never starts MPI: singleton initialisation costs time and prints warnings on
  // hosts without a network MPI likes.
  if (!started_by_launcher()) return;
  {
    const StopSignalsBlocked blocked;
    MPI_Init(&argc, &argv);
  }
  // A failing collective returns its error (and throws above) instead of aborting the job.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  auto cluster = std::make_unique<MpiCluster>();
  if (cluster->size() > 1) session_cluster = std::move(cluster);
}

MpiSession::~MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return;
  session_cluster.reset();
  MPI_Finalize();
}

void check_launch() {}

}  // namespace vecaccel::cli
