// An outside program using the installed vecaccel::mpi: the ranks of MPI_COMM_WORLD search
// their shares of a base, rank 0 checks the merged result.
#include <mpi.h>
#include <vecaccel/mpi.hpp>

#include <cstdio>
#include <span>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  bool exact = true;
  {
    // Row i of the base is (i, i): the nearest row to (q, q) is row q, at distance 0.
    constexpr std::size_t rows = 100, dim = 2;
    const vecaccel::mpi::RowRange mine = vecaccel::mpi::share_of(rows, rank, ranks);
    std::vector<float> share(mine.rows * dim);
    for (std::size_t i = 0; i < share.size(); ++i)
      share[i] = static_cast<float>(mine.first + i / dim);
    const std::vector<float> queries = {17, 17, 90, 90};
    vecaccel::Context context;
    const vecaccel::mpi::Result result = vecaccel::mpi::search(
        MPI_COMM_WORLD, context,
        vecaccel::SearchBase(vecaccel::MatrixView<const float>(share, mine.rows, dim)),
        vecaccel::MatrixView<const float>(queries, 2, dim), 1, vecaccel::Metric::l2);
    if (rank == 0) {
      exact = result.knn.labels == std::vector<std::int64_t>{17, 90};
      std::printf("consumer: vecaccel::mpi searched on %d ranks\n", ranks);
    }
  }
  MPI_Finalize();
  return exact ? 0 : 1;
}
