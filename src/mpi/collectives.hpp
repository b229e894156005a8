#pragma once
// The few MPI collectives vecaccel::mpi is built from, over a caller's communicator: typed,
// chunked where MPI's int counts would overflow, and throwing Error(io_error) naming the call
// that failed (under MPI_ERRORS_RETURN; MPI's default handler aborts first).

#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vecaccel::mpi::detail {

/// Throws Error(Errc::io_error) "<what> failed: <MPI's text>" unless `code` is MPI_SUCCESS.
void check(int code, const char* what);

int rank(MPI_Comm comm);
int size(MPI_Comm comm);

/// Each rank's `values` (the same count on every rank), back to back in rank order, on every
/// rank.
std::vector<std::uint64_t> all_gather(MPI_Comm comm, std::span<const std::uint64_t> values);

/// Rank 0 gets every rank's values (the same count on every rank) back to back in rank order;
/// the others get {}.
std::vector<float> gather(MPI_Comm comm, std::span<const float> values);
std::vector<double> gather(MPI_Comm comm, std::span<const double> values);
std::vector<std::int64_t> gather(MPI_Comm comm, std::span<const std::int64_t> values);

/// `root`'s text on every rank.
std::string broadcast(MPI_Comm comm, const std::string& text, int root);

}  // namespace vecaccel::mpi::detail
