#pragma once
// Coalesced small searches (issue 23): concurrent searches of one index with few queries are
// merged into one batch, so that one scan of the base serves all of them.
//
// The rule, per caller:
// - Alone it never waits: with no batch of this coalescer running, a caller runs its own
//   search at once, exactly as without coalescing.
// - While a batch runs, callers gather in one open group (up to max_batch_queries queries).
//   The group starts when it is full, when the window has passed since it opened, or once no
//   batch runs and the callers of the batch that ended last are back: the wait for
//   companions is bounded by the window (0 turns coalescing off).
// - Callers of a batch usually come back at once (a server's threads, each with its next
//   query): when a batch ends, its queries plus those gathering then are expected back for a
//   short grace (VECACCEL_COALESCE_REGROUP_US, default 100 us, at most the window). Until that many
//   gather or the grace passes, an idle coalescer holds its open group, and a caller that finds
//   none opens one instead of running alone. Without it, callers settle into two cohorts that
//   alternate on the GPU (each group starting the moment the other's batch ends, before its callers
//   are back), half the batch size the threads allow. A caller that is the whole of what is
//   expected (one thread searching in a loop) still runs at once.
// - The group runs as one search of the concatenated queries with the largest k of its members;
//   each member gets its own rows cut to its own k. Results are those of a search of its own:
//   top-k lists are exact, sorted, ties by label, so the first k of the top max-k are the top k
//   (padding included). The batch's second_pass/direct_pass counts are not split per member:
//   a coalesced result reports 0.
// - Each member keeps its own time limit and stop token: it leaves when either fires (the
//   batch goes on for the others; when every member left, the batch is stopped). The batch
//   runs on the thread of the member whose deadline is latest, under that deadline, so no
//   member waits past its own limit; that member, if stopped meanwhile, learns it once the
//   batch is done (cancellation is best-effort, as everywhere).
// - Input errors are each caller's own: the caller checks its input before joining (see
//   FlatIndexImpl::search), so a batch fails only for what fails every member (device loss,
//   memory), and then every member still waiting gets that error.
// - Filtered callers gather only with callers of an equal filter (IdFilter::operator==), and
//   unfiltered ones with unfiltered ones: each filter has its own open group, so a batch is one
//   search under one filter and every member's rows are those of its own filtered search.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "vecaccel/acceleration_context.hpp"
#include "vecaccel/id_filter.hpp"
#include "vecaccel/ops.hpp"

namespace vecaccel::detail {

class SearchCoalescer {
 public:
  /// The most queries one batch may hold (and so the most a caller may bring to be
  /// coalesced): FlatIndex's float16 copy serves batches of up to 32 queries. A batch holds
  /// VECACCEL_COALESCE_MAX_QUERIES (default 8; read as each group opens).
  static constexpr std::size_t max_batch_queries = 32;
  /// Larger k is searched alone: a member with a large k would make the whole batch select it.
  static constexpr std::size_t max_k = 256;
  static constexpr std::chrono::nanoseconds default_window = std::chrono::microseconds(500);

  /// A non-owning reference to the search a batch runs: (queries, k, options, filter or null)
  /// -> result.
  class Search {
   public:
    template <class F>
    Search(F& f) noexcept  // NOLINT(google-explicit-constructor)
        : object_(&f),
          call_([](void* o, std::span<const float> q, std::size_t k, const ExecuteOptions& options,
                   const IdFilter* filter) {
            return (*static_cast<F*>(o))(q, k, options, filter);
          }) {}
    KnnResult operator()(std::span<const float> queries, std::size_t k,
                         const ExecuteOptions& options, const IdFilter* filter) const {
      return call_(object_, queries, k, options, filter);
    }

   private:
    void* object_;
    KnnResult (*call_)(void*, std::span<const float>, std::size_t, const ExecuteOptions&,
                       const IdFilter*);
  };

  /// Reads VECACCEL_COALESCE_REGROUP_US (invalid_argument when malformed).
  explicit SearchCoalescer(std::size_t dim);
  SearchCoalescer(const SearchCoalescer&) = delete;
  SearchCoalescer& operator=(const SearchCoalescer&) = delete;

  /// 0 turns coalescing off; invalid_argument when negative.
  void set_window(std::chrono::nanoseconds window);
  std::chrono::nanoseconds window() const;

  /// Queries waiting in the groups that gather now (diagnostics and tests).
  std::size_t gathering() const;

  /// Whether a search of nq queries (nq >= 1) for k neighbours may be coalesced.
  bool accepts(std::size_t nq, std::size_t k) const;

  /// The result of search(queries, k, options, filter) for this caller, run alone or in a
  /// batch. queries: nq x dim, checked by the caller; nq <= max_batch_queries, k <= max_k;
  /// filter: null for none, else read only during the call (a batch keeps its own copy).
  KnnResult search(std::span<const float> queries, std::size_t k, const ExecuteOptions& options,
                   const IdFilter* filter, Search run);

 private:
  struct Member;
  struct Group;
  using Clock = std::chrono::steady_clock;
  using Lock = std::unique_lock<std::mutex>;

  KnnResult run_alone(Lock& lock, std::span<const float> queries, std::size_t k,
                      const ExecuteOptions& options, const IdFilter* filter, Search run);
  /// The open group gathering callers of this filter with room for nq more queries: a group
  /// of the filter that is full for them starts, and a new one opens.
  std::shared_ptr<Group> group_for(const IdFilter* filter, std::size_t nq);
  void drop_open(const Group& group);
  /// Waits in the group until its result, its turn to run it, or its own limit.
  KnnResult take_part(Lock& lock, const std::shared_ptr<Group>& group, Member& me, Search run);
  void close(Group& group);
  /// Called under the lock when a batch or a lone search of `queries` queries has ended.
  void ended(std::size_t queries);
  /// Whether an idle coalescer's groups may start: the last batch's callers are back, or their
  /// grace has passed.
  bool regrouped(Clock::time_point now) const;
  std::size_t gathering_locked() const;
  /// Runs the group's batch on this thread and hands out the result.
  KnnResult execute(Lock& lock, const std::shared_ptr<Group>& group, Member& me, Search run);
  void leave(Group& group, Member& me);
  void changed() noexcept;
  static KnnResult cut(const KnnResult& batch, std::size_t first_row, std::size_t rows,
                       std::size_t k);

  const std::size_t dim_;
  mutable std::mutex mutex_;
  std::condition_variable_any cv_;
  std::chrono::nanoseconds window_ = default_window;  // under mutex_
  // Long enough for woken threads to take their results and call again, short against a
  // search (the default's reason: BENCHMARKS.md, session 19).
  const std::chrono::nanoseconds regroup_grace_;
  std::size_t running_ = 0;                   // batches (and lone searches) running
  std::size_t expected_back_ = 0;             // queries expected to gather before regroup_until_
  Clock::time_point regroup_until_;           // end of the grace after the last batch ended
  std::vector<std::shared_ptr<Group>> open_;  // gathering companions, one per filter
  std::uint64_t changes_ = 0;                 // what waiters wake on
};

}  // namespace vecaccel::detail
