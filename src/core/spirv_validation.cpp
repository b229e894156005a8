#include "spirv_validation.hpp"

#include <spirv-tools/libspirv.hpp>

#include "vecaccel/error.hpp"

namespace vecaccel::detail {

void validate_spirv(std::span<const std::uint32_t> spirv, const std::string& label) {
  spvtools::SpirvTools validator(SPV_ENV_VULKAN_1_3);
  std::string first_message;
  validator.SetMessageConsumer([&](spv_message_level_t level, const char*,
                                   const spv_position_t& position, const char* message) {
    if (!first_message.empty() || level > SPV_MSG_ERROR) return;
    first_message = message;
    if (first_message.ends_with('.')) first_message.pop_back();
    if (position.index > 0) first_message += " (word " + std::to_string(position.index) + ")";
  });
  if (validator.Validate(spirv.data(), spirv.size())) return;
  throw Error(Errc::pipeline_creation_failed,
              label + " is not valid SPIR-V for Vulkan 1.3: " +
                  (first_message.empty() ? "the validator gave no reason" : first_message));
}

}  // namespace vecaccel::detail
