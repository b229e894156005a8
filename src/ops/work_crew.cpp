#include "work_crew.hpp"

#include <algorithm>

namespace vecaccel::detail {
namespace {

constexpr std::size_t kMaxThreads = 32;

}  // namespace

WorkCrew::WorkCrew(std::size_t threads)
    : threads_(std::max<std::size_t>(threads, 1)),
      start_(static_cast<std::ptrdiff_t>(threads_)),
      done_(static_cast<std::ptrdiff_t>(threads_)),
      errors_(threads_) {
  workers_.reserve(threads_ - 1);
  for (std::size_t t = 1; t < threads_; ++t)
    workers_.emplace_back([this, t] { work(t); });
}

WorkCrew::~WorkCrew() {
  if (workers_.empty()) return;
  quit_ = true;
  start_.arrive_and_wait();  // the workers see quit_ and return; the jthreads join
}

std::size_t WorkCrew::threads_for(std::size_t count, std::size_t min_per_thread) {
  const std::size_t hardware = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(count / std::max<std::size_t>(min_per_thread, 1), 1,
                                 std::min(hardware, kMaxThreads));
}

void WorkCrew::share(std::size_t t) {
  try {
    (*fn_)(count_ * t / threads_, count_ * (t + 1) / threads_);
  } catch (...) {
    errors_[t] = std::current_exception();
  }
}

void WorkCrew::work(std::size_t t) {
  for (;;) {
    start_.arrive_and_wait();
    if (quit_) return;
    share(t);
    done_.arrive_and_wait();
  }
}

void WorkCrew::run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& fn) {
  fn_ = &fn;
  count_ = count;
  std::fill(errors_.begin(), errors_.end(), nullptr);
  if (!workers_.empty()) start_.arrive_and_wait();
  share(0);
  if (!workers_.empty()) done_.arrive_and_wait();
  for (const auto& error : errors_) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace vecaccel::detail
