#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "vecaccel/device.hpp"

namespace vecaccel::cli {
namespace {

std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
  return buf;
}

std::string version(std::uint32_t v) {
  return std::to_string(v >> 22) + "." + std::to_string((v >> 12) & 0x3ff) + "." +
         std::to_string(v & 0xfff);
}

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

void print_text(const DeviceInfo& d) {
  const Capabilities& c = d.capabilities;
  std::printf("[%u] %s (%s)\n", d.index, d.name.c_str(), std::string(to_string(d.type)).c_str());
  std::printf("    driver            %s %s, Vulkan %s\n", d.driver_name.c_str(),
              d.driver_info.c_str(), version(c.api_version).c_str());
  std::printf("    explicit model    %s (timeline semaphores %s, synchronization2 %s)\n",
              yes_no(d.supports_explicit_model), yes_no(c.timeline_semaphore),
              yes_no(c.synchronization2));
  std::printf("    memory            %s device-local in %zu heap(s)\n",
              gib(c.device_local_memory).c_str(), c.memory_heaps.size());
  std::printf("    subgroup size     %u (%u..%u)\n", c.subgroup_size, c.min_subgroup_size,
              c.max_subgroup_size);
  std::printf("    shared memory     %u bytes per workgroup, %u invocations at most\n",
              c.max_shared_memory_bytes, c.max_workgroup_invocations);
  std::printf("    storage buffers   %s range, %s largest buffer\n",
              gib(c.max_storage_buffer_range).c_str(), gib(c.max_buffer_size).c_str());
  std::printf(
      "    optional          cooperative matrix %s (integer %s), memory priority %s, memory "
      "budget %s, push descriptors %s, fp16 %s, timestamps %s\n",
      yes_no(c.cooperative_matrix), yes_no(c.integer_cooperative_matrix), yes_no(c.memory_priority),
      yes_no(c.memory_budget), yes_no(c.push_descriptor), yes_no(c.shader_float16),
      yes_no(c.timestamp_period_ns > 0));
}

void print_json(const std::vector<DeviceInfo>& devices) {
  std::printf("[");
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const DeviceInfo& d = devices[i];
    const Capabilities& c = d.capabilities;
    std::printf(
        "%s\n  {\"index\": %u, \"name\": \"%s\", \"type\": \"%s\", \"driver\": \"%s %s\", "
        "\"vulkan\": \"%s\", \"explicit_model\": %s, \"device_local_bytes\": %llu, "
        "\"subgroup_size\": %u, \"max_shared_memory_bytes\": %u, "
        "\"max_storage_buffer_range\": %llu, \"cooperative_matrix\": %s, "
        "\"integer_cooperative_matrix\": %s, "
        "\"memory_priority\": %s, \"memory_budget\": %s, \"push_descriptor\": %s, "
        "\"timeline_semaphore\": %s, \"synchronization2\": %s}",
        i == 0 ? "" : ",", d.index, json_escape(d.name).c_str(),
        std::string(to_string(d.type)).c_str(), json_escape(d.driver_name).c_str(),
        json_escape(d.driver_info).c_str(), version(c.api_version).c_str(),
        d.supports_explicit_model ? "true" : "false",
        static_cast<unsigned long long>(c.device_local_memory), c.subgroup_size,
        c.max_shared_memory_bytes, static_cast<unsigned long long>(c.max_storage_buffer_range),
        c.cooperative_matrix ? "true" : "false", c.integer_cooperative_matrix ? "true" : "false",
        c.memory_priority ? "true" : "false", c.memory_budget ? "true" : "false",
        c.push_descriptor ? "true" : "false", c.timeline_semaphore ? "true" : "false",
        c.synchronization2 ? "true" : "false");
  }
  std::printf("\n]\n");
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* command =
      app.add_subcommand("info", "List devices, capabilities and explicit-model support");
  auto json = std::make_shared<bool>(false);
  command->add_flag("--json", *json, "Print JSON");
  command->callback([json] {
    const auto devices = Device::enumerate();
    if (*json) {
      print_json(devices);
      return;
    }
    if (devices.empty()) std::printf("no Vulkan devices\n");
    for (const auto& d : devices)
      print_text(d);
  });
}

}  // namespace vecaccel::cli
