#include <string>

#include "access.hpp"
#include "buffer_impl.hpp"
#include "device_impl.hpp"
#include "residency_set_impl.hpp"

namespace vecaccel::detail {

ResidencySetImpl::ResidencySetImpl(std::shared_ptr<DeviceImpl> device,
                                   ResidencySetDescriptor descriptor)
    : device_(std::move(device)), descriptor_(std::move(descriptor)) {
  if (descriptor_.capacity == 0) {
    throw Error(Errc::invalid_argument,
                "residency set '" + descriptor_.label + "' needs a capacity above 0");
  }
}

void ResidencySetImpl::add(const std::shared_ptr<BufferImpl>& buffer) {
  if (!buffer) throw Error(Errc::invalid_argument, "add_allocation: empty buffer handle");
  if (&buffer->device() != device_.get()) {
    throw Error(Errc::invalid_argument,
                "add_allocation: " + buffer->describe() + " belongs to another device");
  }
  std::unique_lock lock(mutex_);
  staged_removes_.erase(buffer->id());
  if (!committed_.contains(buffer->id())) staged_adds_[buffer->id()] = {buffer, buffer->size()};
  note_staged();
}

void ResidencySetImpl::remove(const std::shared_ptr<BufferImpl>& buffer) {
  if (!buffer) throw Error(Errc::invalid_argument, "remove_allocation: empty buffer handle");
  std::unique_lock lock(mutex_);
  staged_adds_.erase(buffer->id());
  if (committed_.contains(buffer->id())) staged_removes_[buffer->id()] = buffer->size();
  note_staged();
}

void ResidencySetImpl::commit() {
  std::unique_lock lock(mutex_);
  // Members whose buffer is gone leave at the next commit: a set does not retain.
  std::uint64_t gone_bytes = 0;
  std::erase_if(committed_, [&](const auto& entry) {
    if (!entry.second.buffer.expired()) return false;
    gone_bytes += entry.second.size;
    return true;
  });
  committed_bytes_ -= gone_bytes;
  // So do staged additions: else a buffer destroyed before the commit (retired scratch) would
  // count against the capacity, and one overflow would fail every later commit.
  std::erase_if(staged_adds_, [](const auto& entry) { return entry.second.buffer.expired(); });
  std::size_t removing = 0;
  for (const auto& [id, size] : staged_removes_)
    removing += committed_.contains(id) ? 1 : 0;
  const std::size_t after = committed_.size() - removing + staged_adds_.size();
  if (after > descriptor_.capacity) {
    throw Error(Errc::residency_set_full, "residency set '" + descriptor_.label + "' would hold " +
                                              std::to_string(after) + " buffers after commit (" +
                                              std::to_string(committed_.size()) + " committed, +" +
                                              std::to_string(staged_adds_.size()) + " -" +
                                              std::to_string(removing) + "); capacity is " +
                                              std::to_string(descriptor_.capacity));
  }
  for (const auto& [id, size] : staged_removes_) {
    if (committed_.erase(id) != 0) committed_bytes_ -= size;
  }
  for (auto& [id, member] : staged_adds_) {
    const auto buffer = member.buffer.lock();
    if (!buffer) continue;
    if (priority_ >= 0) buffer->set_priority(priority_);
    committed_bytes_ += member.size;
    committed_.emplace(id, std::move(member));
  }
  staged_adds_.clear();
  staged_removes_.clear();
  note_staged();
}

bool ResidencySetImpl::contains(std::uint64_t buffer_id) const {
  std::shared_lock lock(mutex_);
  return committed_.contains(buffer_id);
}

std::size_t ResidencySetImpl::count() const {
  std::shared_lock lock(mutex_);
  return committed_.size();
}

std::uint64_t ResidencySetImpl::bytes() const {
  std::shared_lock lock(mutex_);
  return committed_bytes_;
}

bool ResidencySetImpl::has_pending_changes() const {
  return staged_.load(std::memory_order_acquire);
}

void ResidencySetImpl::set_priority(float priority) {
  std::unique_lock lock(mutex_);
  priority_ = priority;
  for (const auto& [id, member] : committed_) {
    if (const auto buffer = member.buffer.lock()) buffer->set_priority(priority);
  }
}

}  // namespace vecaccel::detail

namespace vecaccel {

ResidencySet::ResidencySet(std::shared_ptr<detail::ResidencySetImpl> impl) noexcept
    : impl_(std::move(impl)) {}

void ResidencySet::add_allocation(const Buffer& buffer) {
  impl_->add(detail::Access::impl(buffer));
}
void ResidencySet::remove_allocation(const Buffer& buffer) {
  impl_->remove(detail::Access::impl(buffer));
}
void ResidencySet::commit() {
  impl_->commit();
}
bool ResidencySet::contains(const Buffer& buffer) const {
  return buffer.valid() && impl_->contains(buffer.id());
}
std::size_t ResidencySet::allocation_count() const {
  return impl_->count();
}
std::uint64_t ResidencySet::allocated_size() const {
  return impl_->bytes();
}
bool ResidencySet::has_pending_changes() const {
  return impl_->has_pending_changes();
}
std::size_t ResidencySet::capacity() const noexcept {
  return impl_->capacity();
}
const std::string& ResidencySet::label() const noexcept {
  return impl_->label();
}
void ResidencySet::request_residency() {
  impl_->set_priority(1.0f);
}
void ResidencySet::end_residency() {
  impl_->set_priority(0.0f);
}

}  // namespace vecaccel
