#pragma once
// A reader/writer lock that prefers writers: once a writer waits, new readers wait behind it,
// so the writer waits at most for the readers already inside. std::shared_mutex on glibc
// prefers readers: threads searching an index in a loop kept add() out for 30 s and more
// (issue 24). Meets SharedMutex, so std::unique_lock / std::shared_lock take it.

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace vecaccel::detail {

class WriterPreferringMutex {
 public:
  void lock() {
    std::unique_lock guard(mutex_);
    ++writers_waiting_;
    changed_.wait(guard, [&] { return !writer_inside_ && readers_inside_ == 0; });
    --writers_waiting_;
    writer_inside_ = true;
  }

  void unlock() {
    {
      std::lock_guard guard(mutex_);
      writer_inside_ = false;
    }
    changed_.notify_all();
  }

  void lock_shared() {
    std::unique_lock guard(mutex_);
    changed_.wait(guard, [&] { return readers_may_enter(); });
    ++readers_inside_;
  }

  bool try_lock_shared() {
    std::lock_guard guard(mutex_);
    if (!readers_may_enter()) return false;
    ++readers_inside_;
    return true;
  }

  void unlock_shared() {
    bool last = false;
    {
      std::lock_guard guard(mutex_);
      last = --readers_inside_ == 0;
    }
    if (last) changed_.notify_all();
  }

  /// Whether a writer waits in lock() (for tests).
  bool writer_waiting() const {
    std::lock_guard guard(mutex_);
    return writers_waiting_ > 0;
  }

 private:
  bool readers_may_enter() const { return !writer_inside_ && writers_waiting_ == 0; }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t readers_inside_ = 0;
  std::size_t writers_waiting_ = 0;
  bool writer_inside_ = false;
};

}  // namespace vecaccel::detail
