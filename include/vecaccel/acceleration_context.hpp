#pragma once
// AccelerationContext: what both the explicit Context and the deprecated LegacyContext offer,
// so code written once runs on either.
//
// execute(op) encodes op on the calling thread into a fresh command buffer, submits it and
// returns a Submission at once; execute_and_wait(op) also waits. op is any callable
// R(CommandBuffer&, ComputeEncoder&). Both check options.stop before encoding and before
// waiting (Errc::cancelled); execute_and_wait throws Errc::timeout after options.timeout
// (else the context's default_timeout; the message names which limit fired, in seconds). Work
// already submitted always runs to completion and its resources stay alive until then; the context
// stays usable. Thread-safe: many threads may execute at once; operations in different calls may
// overlap on the GPU.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/command_buffer.hpp"
#include "vecaccel/compute_encoder.hpp"
#include "vecaccel/submission.hpp"

namespace vecaccel {

struct ExecuteOptions {
  std::optional<std::chrono::nanoseconds> timeout;
  std::stop_token stop;
};

/// A non-owning reference to an encode callback: avoids a heap allocation per operation.
class EncodeFunction {
 public:
  template <class F>
  EncodeFunction(F& f) noexcept  // NOLINT(google-explicit-constructor)
      : object_(&f), call_([](void* o, CommandBuffer& cb, ComputeEncoder& enc) {
          (*static_cast<F*>(o))(cb, enc);
        }) {}
  void operator()(CommandBuffer& cb, ComputeEncoder& enc) const { call_(object_, cb, enc); }

 private:
  void* object_;
  void (*call_)(void*, CommandBuffer&, ComputeEncoder&);
};

class AccelerationContext {
 public:
  virtual ~AccelerationContext() = default;

  template <class Op>
  auto execute(Op&& op, const ExecuteOptions& options = {}) {
    using R = std::invoke_result_t<Op&, CommandBuffer&, ComputeEncoder&>;
    if constexpr (std::is_void_v<R>) {
      auto encode = [&](CommandBuffer& cb, ComputeEncoder& enc) { op(cb, enc); };
      return Submission<void>(submit(encode, options));
    } else {
      std::shared_ptr<R> result;
      auto encode = [&](CommandBuffer& cb, ComputeEncoder& enc) {
        result = std::make_shared<R>(op(cb, enc));
      };
      SubmissionBase base = submit(encode, options);
      return Submission<R>(std::move(base), std::move(result));
    }
  }

  template <class Op>
  auto execute_and_wait(Op&& op, const ExecuteOptions& options = {}) {
    using R = std::invoke_result_t<Op&, CommandBuffer&, ComputeEncoder&>;
    auto submission = execute(std::forward<Op>(op), options);
    wait(submission, options);
    if constexpr (!std::is_void_v<R>) return submission.get();
  }

  /// A pooled buffer of at least size bytes, ready to use in this context's operations.
  virtual BufferToken get_buffer(std::uint64_t size) = 0;
  template <class T>
  BufferToken get_buffer(std::span<const T> values) {
    BufferToken token = get_buffer(std::max<std::uint64_t>(values.size_bytes(), 1));
    token.write(values);
    return token;
  }

  /// Waits as execute_and_wait does (options, else the default timeout).
  virtual void wait(const SubmissionBase& submission, const ExecuteOptions& options) = 0;

 protected:
  /// Checks options.stop, encodes, submits; returns the completion handle.
  virtual SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) = 0;
};

}  // namespace vecaccel
