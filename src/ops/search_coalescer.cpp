#include "search_coalescer.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <stop_token>
#include <string>
#include <vector>

#include "knn_engine.hpp"
#include "util/settings.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {

struct SearchCoalescer::Member {
  std::span<const float> queries;
  std::size_t rows = 0;
  std::size_t k = 0;
  Deadline deadline;
  std::size_t first_row = 0;  // in the batch, set when the group closes
  bool left = false;          // timed out or stopped: nobody takes its rows
};

/// Members live on their callers' stacks: a member that leaves is taken out of members (set
/// to null once the group closed, keeping its rows in the batch), so nobody reads it after.
struct SearchCoalescer::Group {
  std::optional<IdFilter> filter;  // every member's (a copy: members' own may go first)
  std::array<Member*, max_batch_queries> members{};
  std::size_t count = 0;
  std::size_t queries = 0;
  std::size_t limit = max_batch_queries;  // queries it closes at
  Clock::time_point close_at;
  bool closed = false;
  Member* executor = nullptr;  // runs the batch, chosen when the group closes
  std::size_t live = 0;        // members that have not left
  std::stop_source stop;       // requested once every member left
  bool done = false;
  KnnResult result;
  std::exception_ptr error;
};

void SearchCoalescer::set_window(std::chrono::nanoseconds window) {
  if (window < std::chrono::nanoseconds(0)) {
    throw Error(Errc::invalid_argument, "coalescing window of " + std::to_string(window.count()) +
                                            " ns: it must be 0 (off) or positive");
  }
  std::lock_guard lock(mutex_);
  window_ = window;
}

std::chrono::nanoseconds SearchCoalescer::window() const {
  std::lock_guard lock(mutex_);
  return window_;
}

SearchCoalescer::SearchCoalescer(std::size_t dim)
    : dim_(dim), regroup_grace_(coalesce_regroup_setting()) {}

std::size_t SearchCoalescer::gathering() const {
  std::lock_guard lock(mutex_);
  return gathering_locked();
}

std::size_t SearchCoalescer::gathering_locked() const {
  std::size_t queries = 0;
  for (const auto& group : open_)
    queries += group->queries;
  return queries;
}

void SearchCoalescer::ended(std::size_t queries) {
  expected_back_ = queries + gathering_locked();
  regroup_until_ = Clock::now() + std::min(regroup_grace_, window_);
}

bool SearchCoalescer::regrouped(Clock::time_point now) const {
  return now >= regroup_until_ || gathering_locked() >= expected_back_;
}

bool SearchCoalescer::accepts(std::size_t nq, std::size_t k) const {
  return nq >= 1 && nq <= coalesce_max_queries_setting() && k <= max_k &&
         window() > std::chrono::nanoseconds(0);
}

void SearchCoalescer::changed() noexcept {
  ++changes_;
  cv_.notify_all();
}

KnnResult SearchCoalescer::search(std::span<const float> queries, std::size_t k,
                                  const ExecuteOptions& options, const IdFilter* filter,
                                  Search run) {
  Lock lock(mutex_);
  const std::size_t nq = queries.size() / dim_;
  if (open_.empty() && running_ == 0 && (nq >= expected_back_ || Clock::now() >= regroup_until_))
    return run_alone(lock, queries, k, options, filter, run);
  Member me{.queries = queries,
            .rows = nq,
            .k = k,
            .deadline = Deadline::after(options.timeout, options.stop)};
  const std::shared_ptr<Group> group = group_for(filter, nq);
  group->members[group->count++] = &me;
  group->queries += nq;
  group->live += 1;
  if (group->queries >= group->limit) close(*group);
  changed();
  return take_part(lock, group, me, run);
}

std::shared_ptr<SearchCoalescer::Group> SearchCoalescer::group_for(const IdFilter* filter,
                                                                   std::size_t nq) {
  const auto same_filter = [&](const std::shared_ptr<Group>& group) {
    return filter == nullptr ? !group->filter : group->filter && *group->filter == *filter;
  };
  if (const auto it = std::find_if(open_.begin(), open_.end(), same_filter); it != open_.end()) {
    if ((*it)->queries + nq <= (*it)->limit) return *it;
    close(**it);  // full for this caller: it starts, and a new group gathers
  }
  auto group = std::make_shared<Group>();
  group->limit = coalesce_max_queries_setting();
  if (filter != nullptr) group->filter = *filter;
  group->close_at = Clock::now() + window_;
  open_.push_back(group);
  return group;
}

void SearchCoalescer::drop_open(const Group& group) {
  std::erase_if(open_, [&](const std::shared_ptr<Group>& g) { return g.get() == &group; });
}

KnnResult SearchCoalescer::run_alone(Lock& lock, std::span<const float> queries, std::size_t k,
                                     const ExecuteOptions& options, const IdFilter* filter,
                                     Search run) {
  ++running_;
  lock.unlock();
  struct Done {
    SearchCoalescer& self;
    std::size_t rows;
    ~Done() {
      std::lock_guard relock(self.mutex_);
      --self.running_;
      self.ended(rows);
      self.changed();
    }
  } done{*this, queries.size() / dim_};
  return run(queries, k, options, filter);
}

void SearchCoalescer::close(Group& group) {
  group.closed = true;
  drop_open(group);
  // The member with the latest deadline runs the batch: nobody else waits past their own.
  std::size_t row = 0;
  for (std::size_t i = 0; i < group.count; ++i) {
    Member& member = *group.members[i];  // all present: an open group drops those that leave
    member.first_row = row;
    row += member.rows;
    if (group.executor == nullptr || member.deadline.at > group.executor->deadline.at)
      group.executor = &member;
  }
  ++running_;
  changed();
}

KnnResult SearchCoalescer::take_part(Lock& lock, const std::shared_ptr<Group>& group, Member& me,
                                     Search run) {
  for (;;) {
    const auto now = Clock::now();
    if (!group->closed && ((running_ == 0 && regrouped(now)) || now >= group->close_at))
      close(*group);
    if (group->closed && group->executor == &me) return execute(lock, group, me, run);
    if (group->done) {
      if (group->error) std::rethrow_exception(group->error);
      const KnnResult& batch = group->result;
      lock.unlock();  // the result no longer changes
      return cut(batch, me.first_row, me.rows, me.k);
    }
    if (me.deadline.stop.stop_requested()) {
      leave(*group, me);
      throw Error(Errc::cancelled, "kNN search stopped while coalesced with other searches");
    }
    if (now >= me.deadline.at) {
      leave(*group, me);
      throw me.deadline.timeout_error("a coalesced kNN search");
    }
    // Bounded: a wait until time_point::max() is not portable.
    const auto start_by =
        running_ == 0 ? std::min(group->close_at, regroup_until_) : group->close_at;
    const auto wake = std::min(
        {group->closed ? me.deadline.at : start_by, me.deadline.at, now + std::chrono::hours(1)});
    const std::uint64_t seen = changes_;
    cv_.wait_until(lock, me.deadline.stop, wake, [&] { return changes_ != seen; });
  }
}

void SearchCoalescer::leave(Group& group, Member& me) {
  me.left = true;
  group.live -= 1;
  const auto first = group.members.begin();
  const auto end = first + static_cast<std::ptrdiff_t>(group.count);
  if (group.closed) {
    std::replace(first, end, &me, static_cast<Member*>(nullptr));
  } else {
    // Not started: its queries leave the batch.
    group.count = static_cast<std::size_t>(std::remove(first, end, &me) - first);
    group.queries -= me.rows;
  }
  if (group.live == 0) {
    if (!group.closed) drop_open(group);
    group.stop.request_stop();
  }
  changed();
}

KnnResult SearchCoalescer::execute(Lock& lock, const std::shared_ptr<Group>& group, Member& me,
                                   Search run) {
  // Rows of members that left stay zero (finite): their results are dropped.
  std::vector<float> queries(group->queries * dim_);
  std::size_t k = 1;
  for (std::size_t i = 0; i < group->count; ++i) {
    const Member* member = group->members[i];
    if (member == nullptr) continue;
    std::copy(member->queries.begin(), member->queries.end(),
              queries.begin() + static_cast<std::ptrdiff_t>(member->first_row * dim_));
    k = std::max(k, member->k);
  }
  const ExecuteOptions options{.timeout = me.deadline.execute_options().timeout,
                               .stop = group->stop.get_token()};
  lock.unlock();
  KnnResult result;
  std::exception_ptr error;
  {
    // The executor's own stop makes it leave like any member; its thread stays to finish.
    std::stop_callback leaving(me.deadline.stop, [&] {
      std::lock_guard guard(mutex_);
      if (!me.left) leave(*group, me);
    });
    try {
      result = run(queries, k, options, group->filter ? &*group->filter : nullptr);
    } catch (...) {
      error = std::current_exception();
    }
  }
  lock.lock();
  group->result = std::move(result);
  group->error = error;
  group->done = true;
  --running_;
  std::size_t staying = 0;  // members that left are not expected back
  for (std::size_t i = 0; i < group->count; ++i)
    staying += group->members[i] == nullptr ? 0 : group->members[i]->rows;
  ended(staying);
  changed();
  if (error) std::rethrow_exception(error);
  if (me.left) throw Error(Errc::cancelled, "kNN search stopped while coalesced with others");
  const KnnResult& batch = group->result;
  lock.unlock();
  return cut(batch, me.first_row, me.rows, me.k);
}

KnnResult SearchCoalescer::cut(const KnnResult& batch, std::size_t first_row, std::size_t rows,
                               std::size_t k) {
  KnnResult out{.rows = rows, .k = k};
  out.distances.resize(rows * k);
  out.labels.resize(rows * k);
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t from = (first_row + r) * batch.k;
    std::copy_n(batch.distances.begin() + static_cast<std::ptrdiff_t>(from), k,
                out.distances.begin() + static_cast<std::ptrdiff_t>(r * k));
    std::copy_n(batch.labels.begin() + static_cast<std::ptrdiff_t>(from), k,
                out.labels.begin() + static_cast<std::ptrdiff_t>(r * k));
  }
  return out;
}

}  // namespace vecaccel::detail
