#pragma once
// The processes of one `vecaccel search`: MPI ranks when the tool was built with MPI
// (VECACCEL_WITH_MPI) and started by mpirun, else this process alone (cluster() is null).
//
// MPI is process-wide state, so the session is too: MpiSession lives for main() and cluster()
// reaches it. Every member of Cluster is a collective: all ranks call it, in the same order,
// from the thread that created the session.

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace vecaccel::cli {

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// This rank's position among the ranks on its host (it picks the host's GPU).
  virtual int local_rank() const = 0;
  /// Every rank passes its exit status so far (0: fine). Returns the lowest failing rank and
  /// its status, or {-1, 0} when every rank is fine.
  virtual std::pair<int, int> first_failure(int status) = 0;
  /// Each rank's value, in rank order, on every rank.
  virtual std::vector<std::uint64_t> all_gather(std::uint64_t value) = 0;
  /// Rank 0 gets every rank's values (the same count on all ranks) in rank order; others {}.
  virtual std::vector<float> gather(std::span<const float> values) = 0;
  virtual std::vector<double> gather(std::span<const double> values) = 0;
  virtual std::vector<std::int64_t> gather(std::span<const std::int64_t> values) = 0;
};

/// The session's cluster while several ranks run; null for a single process.
Cluster* cluster();

/// Starts MPI when this process was started by an MPI launcher (and the tool has MPI), ends
/// it when destroyed. Without MPI support a launch of several ranks is refused by
/// check_launch(): each rank would search the whole base and write the same outputs.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

/// Throws Errc::unsupported when an MPI launcher started several ranks of a tool built
/// without MPI.
void check_launch();

}  // namespace vecaccel::cli
