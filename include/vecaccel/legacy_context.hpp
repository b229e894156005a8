#pragma once
// LegacyContext (the seed's Metal 3 MetalContext): the implicit execution model, kept for
// migration and as the baseline that shows what the explicit Context saves.
//
// Each operation gets a fresh command buffer whose submission retains every buffer it binds
// until the GPU has finished (no residency sets, no validation), and completes through a
// per-submission handler run on the device's listener thread (Metal's completed handler)
// rather than by waiting on the queue's timeline. Same AccelerationContext contract as Context:
// timeouts throw Errc::timeout, a stop request Errc::cancelled, the context stays usable.
// Uses from ContextConfiguration: device choice, pool cap and per-size count, queue label,
// max_command_buffer_count and default_timeout (residency and profiling settings do not apply).
// Thread-safe. Destroying it waits for its submitted work.

#include <memory>

#include "vecaccel/acceleration_context.hpp"
#include "vecaccel/buffer_pool.hpp"
#include "vecaccel/context_configuration.hpp"
#include "vecaccel/device.hpp"

namespace vecaccel {

namespace detail {
class LegacyContextImpl;
}

class [[deprecated("use vecaccel::Context")]] LegacyContext final : public AccelerationContext {
 public:
  explicit LegacyContext(const ContextConfiguration& configuration = {});
  LegacyContext(Device device, const ContextConfiguration& configuration = {});
  ~LegacyContext() override;
  LegacyContext(const LegacyContext&) = delete;
  LegacyContext& operator=(const LegacyContext&) = delete;

  const Device& device() const noexcept;
  BufferPool& buffer_pool() noexcept;

  BufferToken get_buffer(std::uint64_t size) override;
  using AccelerationContext::get_buffer;
  void wait(const SubmissionBase& submission, const ExecuteOptions& options) override;

 protected:
  SubmissionBase submit(EncodeFunction encode, const ExecuteOptions& options) override;

 private:
  std::unique_ptr<detail::LegacyContextImpl> impl_;
};

}  // namespace vecaccel
