#include "search/device_threads.hpp"

#include <thread>

#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

bool is_cancellation(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.code() == Errc::cancelled;
  } catch (...) {
    return false;
  }
}

}  // namespace

std::vector<std::exception_ptr> run_each(std::size_t count,
                                         const std::function<void(std::size_t)>& task) {
  std::vector<std::exception_ptr> errors(count);
  const auto guarded = [&](std::size_t i) {
    try {
      task(i);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  if (count == 1) {
    guarded(0);
    return errors;
  }
  std::vector<std::jthread> threads;
  threads.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    threads.emplace_back(guarded, i);
  return errors;  // the jthreads join as they go out of scope, before errors is returned
}

void run_per_device(std::size_t count, const std::stop_token& caller,
                    const std::function<void(std::size_t, std::stop_token)>& task) {
  std::vector<std::stop_source> halts(count);
  const std::stop_callback forward(caller, [&] {
    for (std::stop_source& halt : halts)
      halt.request_stop();
  });
  rethrow_first(run_each(count, [&](std::size_t i) {
    try {
      task(i, halts[i].get_token());
    } catch (...) {
      for (std::size_t later = i + 1; later < count; ++later)
        halts[later].request_stop();
      throw;
    }
  }));
}

void rethrow_first(const std::vector<std::exception_ptr>& errors) {
  std::exception_ptr cancelled;
  for (const std::exception_ptr& error : errors) {
    if (!error) continue;
    if (!is_cancellation(error)) std::rethrow_exception(error);
    if (!cancelled) cancelled = error;
  }
  if (cancelled) std::rethrow_exception(cancelled);
}

}  // namespace vecaccel::detail
