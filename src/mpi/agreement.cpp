// The ranks' agreement on the first failure (on_all_ranks) and a rank's place on its host.
#include <exception>
#include <string>

#include "collectives.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/mpi.hpp"

namespace vecaccel::mpi {
namespace {

/// What the other ranks learn of a failure: its code and its text, less the code's prefix.
struct Failure {
  Errc code = Errc::io_error;
  std::string text;
};

Failure describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    const std::string what = e.what();
    const std::string prefix = std::string(to_string(e.code())) + ": ";
    return {e.code(), what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what};
  } catch (const std::exception& e) {
    return {Errc::io_error, e.what()};
  } catch (...) {
    return {Errc::io_error, "an exception that is not a std::exception"};
  }
}

/// The caller's status for this rank's failure: nonzero, 1 when it gives none (or fails).
int failure_status(const FailureStatus& status, const std::exception_ptr& error) {
  if (!status) return 1;
  try {
    const int out = status(error);
    return out != 0 ? out : 1;
  } catch (...) {
    return 1;
  }
}

}  // namespace

RankFailed::RankFailed(int rank, int status, Errc code, const std::string& what)
    : Error(code, "rank " + std::to_string(rank) + " failed: " + what),
      rank_(rank),
      status_(status) {}

void on_all_ranks(MPI_Comm comm, const std::function<void()>& step, const FailureStatus& status) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    error = std::current_exception();
  }
  const int me = detail::rank(comm);
  const int ranks = detail::size(comm);
  const int mine = error ? me : ranks;
  int first = ranks;
  detail::check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (first == ranks) return;
  const Failure failure = me == first ? describe(error) : Failure{};
  int header[2] = {me == first ? failure_status(status, error) : 0, static_cast<int>(failure.code)};
  detail::check(MPI_Bcast(header, 2, MPI_INT, first, comm), "MPI_Bcast");
  const std::string text = detail::broadcast(comm, failure.text, first);
  if (me == first) std::rethrow_exception(error);
  throw RankFailed(first, header[0], static_cast<Errc>(header[1]), text);
}

int local_rank(MPI_Comm comm) {
  MPI_Comm host = MPI_COMM_NULL;
  detail::check(
      MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, detail::rank(comm), MPI_INFO_NULL, &host),
      "MPI_Comm_split_type");
  int out = 0;
  const int code = MPI_Comm_rank(host, &out);
  MPI_Comm_free(&host);
  detail::check(code, "MPI_Comm_rank");
  return out;
}

}  // namespace vecaccel::mpi
