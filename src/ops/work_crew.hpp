#pragma once
// WorkCrew: threads that split loops over [0, count) among themselves, started once and reused
// for every run (the slices of one upload, the queries of a merge): starting threads for each
// loop can cost as much as a share of the loop. Owned and run by one thread.

#include <barrier>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace vecaccel::detail {

class WorkCrew {
 public:
  /// `threads` counts the calling thread: WorkCrew(1) starts none.
  explicit WorkCrew(std::size_t threads);
  ~WorkCrew();
  WorkCrew(const WorkCrew&) = delete;
  WorkCrew& operator=(const WorkCrew&) = delete;

  /// Threads worth starting for `count` items of which each thread should get at least
  /// `min_per_thread`: at least 1, at most the hardware's threads and 32 (beyond which the
  /// memory bus, not the cores, limits the loops this serves).
  static std::size_t threads_for(std::size_t count, std::size_t min_per_thread);
  /// fn(begin, end) over [0, count), split among the crew in ascending ranges (the calling
  /// thread takes the first). If some throw, rethrows the exception of the lowest range: the
  /// first bad item is the one reported, as a serial loop would.
  void run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void work(std::size_t t);
  void share(std::size_t t);

  std::size_t threads_;
  std::barrier<> start_;
  std::barrier<> done_;
  const std::function<void(std::size_t, std::size_t)>* fn_ = nullptr;
  std::size_t count_ = 0;
  bool quit_ = false;  // written before start_ releases the workers, read after
  std::vector<std::exception_ptr> errors_;
  std::vector<std::jthread> workers_;  // last: joined before the barriers go
};

}  // namespace vecaccel::detail
