#include "spirv_reflection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "vecaccel/argument_table.hpp"
#include "vecaccel/error.hpp"

namespace vecaccel::detail {
namespace {

// The opcodes, decorations and enumerants read here (SPIR-V 1.6 specification, section 3).
namespace op {
constexpr std::uint32_t name = 5, entry_point = 15, execution_mode = 16, type_bool = 20,
                        type_int = 21, type_float = 22, type_vector = 23, type_matrix = 24,
                        type_array = 28, type_runtime_array = 29, type_struct = 30,
                        type_pointer = 32, constant_true = 41, constant_false = 42, constant = 43,
                        constant_composite = 44, spec_constant_true = 48, spec_constant_false = 49,
                        spec_constant = 50, spec_constant_composite = 51, function = 54,
                        variable = 59, decorate = 71, member_decorate = 72, execution_mode_id = 331;
}  // namespace op
namespace decoration {
constexpr std::uint32_t spec_id = 1, block = 2, buffer_block = 3, row_major = 4, array_stride = 6,
                        matrix_stride = 7, built_in = 11, binding = 33, descriptor_set = 34,
                        offset = 35;
}  // namespace decoration
namespace storage {
constexpr std::uint32_t uniform = 2, push_constant = 9, storage_buffer = 12, function = 7,
                        physical_storage_buffer = 5349;
}  // namespace storage
constexpr std::uint32_t magic = 0x07230203;
constexpr std::uint32_t header_words = 5;
constexpr std::uint32_t gl_compute = 5;
constexpr std::uint32_t mode_local_size = 17, mode_local_size_id = 38;
constexpr std::uint32_t built_in_workgroup_size = 25;
/// Deeper nesting is refused: a malformed module may declare a type containing itself.
constexpr int max_type_depth = 32;

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Sizes are computed in 64 bits and saturate: a malformed module may declare any length.
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return std::min(a, std::numeric_limits<std::uint64_t>::max() - b) + b;
}

std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

std::string execution_model_name(std::uint32_t model) {
  static constexpr const char* names[] = {"Vertex",
                                          "TessellationControl",
                                          "TessellationEvaluation",
                                          "Geometry",
                                          "Fragment",
                                          "GLCompute",
                                          "Kernel"};
  return model < std::size(names) ? names[model] : "execution model " + std::to_string(model);
}

struct EntryPoint {
  std::uint32_t model;
  std::uint32_t id;
  std::string name;
};

struct Constant {
  std::uint32_t type;
  std::uint32_t value;  ///< the low word (the only one of a 32-bit constant)
  bool specializable;
};

struct Variable {
  std::uint32_t pointer_type;
  std::uint32_t id;
  std::uint32_t storage_class;
};

/// Layout decorations of a struct member, which size a matrix member.
struct MemberLayout {
  std::uint32_t matrix_stride = 0;
  bool row_major = false;
};

/// One pass over the module records the declarations (everything before the first function);
/// the questions are then answered from those records.
class ModuleReader {
 public:
  ModuleReader(std::span<const std::uint32_t> spirv, const std::string& label)
      : spirv_(spirv), label_(label) {
    check_header();
    read_instructions();
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(Errc::pipeline_creation_failed, label_ + ": " + why);
  }

  const EntryPoint& compute_entry_point(std::string_view wanted) const;
  void specialize(std::span<const SpecializationConstant> specialization);
  std::array<std::uint32_t, 3> workgroup_size(const EntryPoint& entry) const;
  std::uint32_t binding_mask() const;
  std::uint32_t push_constant_size() const;

 private:
  void check_header() const;
  void read_instructions();
  void record(std::span<const std::uint32_t> words, std::size_t at);
  std::uint32_t operand(std::span<const std::uint32_t> words, std::size_t at,
                        std::size_t index) const;
  std::string literal(std::span<const std::uint32_t> words, std::size_t at,
                      std::size_t first) const;

  std::optional<std::uint32_t> decoration_of(std::uint32_t id, std::uint32_t which) const;
  const std::vector<std::uint32_t>& type(std::uint32_t id) const;
  std::uint32_t constant_value(std::uint32_t id, std::string_view what) const;
  std::string describe(const Variable& variable) const;
  void check_buffer(const Variable& variable, std::uint32_t set, std::uint32_t binding) const;
  std::uint64_t size_of(std::uint32_t type_id, MemberLayout layout, int depth) const;
  std::uint64_t struct_size(std::uint32_t struct_id, const std::vector<std::uint32_t>& words,
                            int depth) const;
  std::vector<std::uint32_t> declared_spec_ids() const;

  std::span<const std::uint32_t> spirv_;
  const std::string& label_;
  std::vector<EntryPoint> entry_points_;
  std::map<std::uint32_t, std::array<std::uint32_t, 3>> local_size_;     // entry -> sizes
  std::map<std::uint32_t, std::array<std::uint32_t, 3>> local_size_id_;  // entry -> constants
  std::map<std::uint32_t, std::string> names_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> decorations_;  // first operand
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint32_t>
      member_decorations_;                                     // (struct, member, decoration)
  std::map<std::uint32_t, std::vector<std::uint32_t>> types_;  // id -> opcode, then operands
  std::map<std::uint32_t, Constant> constants_;
  std::map<std::uint32_t, std::vector<std::uint32_t>> composites_;  // id -> constituents
  std::vector<Variable> variables_;
};

void ModuleReader::check_header() const {
  if (spirv_.size() < header_words) {
    fail("truncated: " + std::to_string(spirv_.size()) + " words, shorter than the " +
         std::to_string(header_words) + "-word SPIR-V header");
  }
  if (spirv_[0] != magic) {
    fail("not SPIR-V: the first word is " + hex(spirv_[0]) + ", SPIR-V starts with " + hex(magic) +
         (spirv_[0] == __builtin_bswap32(magic) ? " (this module is byte-swapped)" : ""));
  }
  const std::uint32_t version = spirv_[1];
  const std::uint32_t major = (version >> 16) & 0xff;
  const std::uint32_t minor = (version >> 8) & 0xff;
  if ((version & 0xff0000ff) != 0 || major != 1 || minor > 6) {
    fail("SPIR-V version word " + hex(version) + " (" + std::to_string(major) + "." +
         std::to_string(minor) + "): Vulkan 1.3 takes SPIR-V 1.0 to 1.6");
  }
}

void ModuleReader::read_instructions() {
  bool in_functions = false;
  for (std::size_t at = header_words; at < spirv_.size();) {
    const std::uint32_t word_count = spirv_[at] >> 16;
    const std::uint32_t opcode = spirv_[at] & 0xffff;
    if (word_count == 0) fail("the instruction at word " + std::to_string(at) + " has 0 words");
    if (word_count > spirv_.size() - at) {
      fail("truncated: the instruction at word " + std::to_string(at) + " (opcode " +
           std::to_string(opcode) + ") has " + std::to_string(word_count) + " words, only " +
           std::to_string(spirv_.size() - at) + " remain");
    }
    // Declarations come before the functions; their bodies are only walked for length.
    in_functions = in_functions || opcode == op::function;
    if (!in_functions) record(spirv_.subspan(at, word_count), at);
    at += word_count;
  }
}

std::uint32_t ModuleReader::operand(std::span<const std::uint32_t> words, std::size_t at,
                                    std::size_t index) const {
  if (index >= words.size()) {
    fail("the instruction at word " + std::to_string(at) + " (opcode " +
         std::to_string(words[0] & 0xffff) + ") has " + std::to_string(words.size()) +
         " words, too few for its operands");
  }
  return words[index];
}

std::string ModuleReader::literal(std::span<const std::uint32_t> words, std::size_t at,
                                  std::size_t first) const {
  std::string text;
  for (std::size_t i = first; i < words.size(); ++i) {
    for (int byte = 0; byte < 4; ++byte) {
      const char c = static_cast<char>((words[i] >> (8 * byte)) & 0xff);
      if (c == '\0') return text;
      text += c;
    }
  }
  fail("the string of the instruction at word " + std::to_string(at) + " is not terminated");
}

void ModuleReader::record(std::span<const std::uint32_t> words, std::size_t at) {
  const auto w = [&](std::size_t i) { return operand(words, at, i); };
  switch (words[0] & 0xffff) {
    case op::name:
      names_[w(1)] = literal(words, at, 2);
      break;
    case op::entry_point:
      entry_points_.push_back({w(1), w(2), literal(words, at, 3)});
      break;
    case op::execution_mode:
      if (w(2) == mode_local_size) local_size_[w(1)] = {w(3), w(4), w(5)};
      break;
    case op::execution_mode_id:
      if (w(2) == mode_local_size_id) local_size_id_[w(1)] = {w(3), w(4), w(5)};
      break;
    case op::decorate:
      decorations_[{w(1), w(2)}] = words.size() > 3 ? words[3] : 0;
      break;
    case op::member_decorate:
      member_decorations_[{w(1), w(2), w(3)}] = words.size() > 4 ? words[4] : 0;
      break;
    case op::type_bool:
    case op::type_int:
    case op::type_float:
    case op::type_vector:
    case op::type_matrix:
    case op::type_array:
    case op::type_runtime_array:
    case op::type_struct:
    case op::type_pointer:
      w(1);  // every type has a result id
      types_[words[1]] = {words.begin(), words.end()};
      types_[words[1]][0] &= 0xffff;  // the opcode alone
      break;
    case op::constant:
    case op::spec_constant:
      constants_[w(2)] = {w(1), w(3), (words[0] & 0xffff) == op::spec_constant};
      break;
    case op::constant_true:
    case op::constant_false:
    case op::spec_constant_true:
    case op::spec_constant_false: {
      const std::uint32_t opcode = words[0] & 0xffff;
      constants_[w(2)] = {w(1), opcode == op::constant_true || opcode == op::spec_constant_true,
                          opcode == op::spec_constant_true || opcode == op::spec_constant_false};
      break;
    }
    case op::constant_composite:
    case op::spec_constant_composite:
      composites_[w(2)] = {words.begin() + 3, words.end()};
      break;
    case op::variable:
      if (w(3) != storage::function) variables_.push_back({w(1), w(2), w(3)});
      break;
    default:
      break;
  }
}

std::optional<std::uint32_t> ModuleReader::decoration_of(std::uint32_t id,
                                                         std::uint32_t which) const {
  const auto found = decorations_.find({id, which});
  if (found == decorations_.end()) return std::nullopt;
  return found->second;
}

const std::vector<std::uint32_t>& ModuleReader::type(std::uint32_t id) const {
  const auto found = types_.find(id);
  if (found == types_.end()) fail("id " + std::to_string(id) + " is used as a type but is none");
  return found->second;
}

std::uint32_t ModuleReader::constant_value(std::uint32_t id, std::string_view what) const {
  const auto found = constants_.find(id);
  if (found == constants_.end()) {
    fail(std::string(what) + " refers to id " + std::to_string(id) + ", which is not a constant");
  }
  return found->second.value;
}

const EntryPoint& ModuleReader::compute_entry_point(std::string_view wanted) const {
  std::vector<const EntryPoint*> matches;
  std::string all;
  for (const auto& entry : entry_points_) {
    all += (all.empty() ? "" : ", ") + execution_model_name(entry.model) + " '" + entry.name + "'";
    if (entry.model == gl_compute && (wanted.empty() || entry.name == wanted)) {
      matches.push_back(&entry);
    }
  }
  const std::string found = " (the module has " + (all.empty() ? "none" : all) + ")";
  if (matches.empty() && wanted.empty()) fail("no GLCompute entry point" + found);
  if (matches.empty()) fail("no GLCompute entry point named '" + std::string(wanted) + "'" + found);
  if (matches.size() > 1) {
    fail(std::to_string(matches.size()) + " GLCompute entry points" + found +
         ": name one in SpirvPipelineDescriptor::entry_point");
  }
  return *matches.front();
}

std::vector<std::uint32_t> ModuleReader::declared_spec_ids() const {
  std::vector<std::uint32_t> ids;
  for (const auto& [id, constant] : constants_) {
    if (!constant.specializable) continue;
    if (const auto spec_id = decoration_of(id, decoration::spec_id)) ids.push_back(*spec_id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

void ModuleReader::specialize(std::span<const SpecializationConstant> specialization) {
  for (std::size_t i = 0; i < specialization.size(); ++i) {
    const SpecializationConstant& given = specialization[i];
    const auto same_id = [&](const auto& other) { return other.id == given.id; };
    const auto invalid = [&](const std::string& why) {
      throw Error(Errc::invalid_argument,
                  label_ + ": specialization constant id " + std::to_string(given.id) + why);
    };
    if (std::any_of(specialization.begin(), specialization.begin() + i, same_id)) {
      invalid(" is given twice");
    }
    bool declared = false;
    for (auto& [id, constant] : constants_) {
      if (!constant.specializable || decoration_of(id, decoration::spec_id) != given.id) continue;
      const auto& constant_type = type(constant.type);
      const bool bool_type = constant_type[0] == op::type_bool;  // a VkBool32 when specialized
      if (!bool_type && operand(constant_type, 0, 2) != 32) {
        invalid(" is " + std::to_string(constant_type[2]) + " bits wide; only 32-bit ones are set");
      }
      constant.value = given.value;
      declared = true;
    }
    if (!declared) {
      std::string ids;
      for (const std::uint32_t id : declared_spec_ids())
        ids += (ids.empty() ? "" : ", ") + std::to_string(id);
      invalid(" is not declared by the module (it declares " + (ids.empty() ? "none" : ids) + ")");
    }
  }
}

std::array<std::uint32_t, 3> ModuleReader::workgroup_size(const EntryPoint& entry) const {
  // The WorkgroupSize built-in overrides the execution modes (SPIR-V 1.6, 3.21 BuiltIn).
  for (const auto& [key, value] : decorations_) {
    if (key.second != decoration::built_in || value != built_in_workgroup_size) continue;
    const auto composite = composites_.find(key.first);
    if (composite == composites_.end() || composite->second.size() != 3) {
      fail("the WorkgroupSize built-in (id " + std::to_string(key.first) +
           ") is not a composite of 3 constants");
    }
    const auto& parts = composite->second;
    return {constant_value(parts[0], "the workgroup size"),
            constant_value(parts[1], "the workgroup size"),
            constant_value(parts[2], "the workgroup size")};
  }
  if (const auto ids = local_size_id_.find(entry.id); ids != local_size_id_.end()) {
    return {constant_value(ids->second[0], "LocalSizeId"),
            constant_value(ids->second[1], "LocalSizeId"),
            constant_value(ids->second[2], "LocalSizeId")};
  }
  if (const auto sizes = local_size_.find(entry.id); sizes != local_size_.end()) {
    return sizes->second;
  }
  fail("entry point '" + entry.name + "' declares no workgroup size (LocalSize)");
}

std::string ModuleReader::describe(const Variable& variable) const {
  if (const auto name = names_.find(variable.id); name != names_.end() && !name->second.empty()) {
    return "'" + name->second + "' ";
  }
  // An anonymous GLSL block: its type carries the block's name.
  const auto pointer = types_.find(variable.pointer_type);
  if (pointer != types_.end() && pointer->second.size() > 3) {
    const auto name = names_.find(pointer->second[3]);
    if (name != names_.end() && !name->second.empty()) return "'" + name->second + "' ";
  }
  return "";
}

void ModuleReader::check_buffer(const Variable& variable, std::uint32_t set,
                                std::uint32_t binding) const {
  const std::string what = "resource " + describe(variable) + "at set " + std::to_string(set) +
                           ", binding " + std::to_string(binding);
  if (set != 0) fail(what + ": vecaccel binds descriptor set 0 only");
  if (binding >= ArgumentTable::max_bindings) {
    fail(what + ": bindings must be below ArgumentTable::max_bindings = " +
         std::to_string(ArgumentTable::max_bindings));
  }
  const auto& pointer = type(variable.pointer_type);
  if (pointer[0] != op::type_pointer) fail(what + ": its type is not a pointer");
  const auto& pointee = type(operand(pointer, 0, 3));
  const std::uint32_t storage_class = operand(pointer, 0, 2);
  if (pointee[0] == op::type_array || pointee[0] == op::type_runtime_array) {
    fail(what + " is an array of descriptors: give each buffer a binding of its own");
  }
  const bool block = pointee[0] == op::type_struct;
  const bool storage_buffer =
      block && (storage_class == storage::storage_buffer ||
                (storage_class == storage::uniform &&
                 decoration_of(pointer[3], decoration::buffer_block).has_value()));
  if (storage_buffer) return;
  if (block && storage_class == storage::uniform) {
    fail(what + " is a uniform block: declare it `buffer` (vecaccel binds storage buffers)");
  }
  fail(what + " is not a storage buffer (storage class " + std::to_string(storage_class) +
       "): vecaccel binds storage buffers only");
}

std::uint32_t ModuleReader::binding_mask() const {
  std::uint32_t mask = 0;
  for (const auto& variable : variables_) {
    const auto set = decoration_of(variable.id, decoration::descriptor_set);
    const auto binding = decoration_of(variable.id, decoration::binding);
    if (!set && !binding) continue;
    if (!binding) {
      fail("resource " + describe(variable) + "in set " + std::to_string(*set) + " has no binding");
    }
    check_buffer(variable, set.value_or(0), *binding);
    mask |= 1u << *binding;
  }
  return mask;
}

std::uint64_t ModuleReader::struct_size(std::uint32_t struct_id,
                                        const std::vector<std::uint32_t>& words, int depth) const {
  std::uint64_t end = 0;
  for (std::uint32_t member = 0; member + 2 < words.size(); ++member) {
    const auto decorated = [&](std::uint32_t which) {
      return member_decorations_.find({struct_id, member, which});
    };
    const auto offset = decorated(decoration::offset);
    if (offset == member_decorations_.end()) {
      fail("member " + std::to_string(member) + " of the push-constant block (struct id " +
           std::to_string(struct_id) + ") has no Offset");
    }
    const auto stride = decorated(decoration::matrix_stride);
    const MemberLayout layout{
        .matrix_stride = stride == member_decorations_.end() ? 0 : stride->second,
        .row_major = decorated(decoration::row_major) != member_decorations_.end()};
    const std::uint64_t size = size_of(words[member + 2], layout, depth + 1);
    end = std::max(end, saturating_add(size, offset->second));
  }
  return end;
}

std::uint64_t ModuleReader::size_of(std::uint32_t type_id, MemberLayout layout, int depth) const {
  if (depth > max_type_depth) {
    fail("the push-constant block nests types deeper than " + std::to_string(max_type_depth));
  }
  const auto& words = type(type_id);
  const auto w = [&](std::size_t i) { return operand(words, 0, i); };
  switch (words[0]) {
    case op::type_int:
    case op::type_float:
      return w(2) / 8;
    case op::type_vector:
      return saturating_multiply(w(3), size_of(w(2), layout, depth + 1));
    case op::type_matrix: {
      if (layout.matrix_stride == 0)
        fail("a matrix in the push-constant block has no MatrixStride");
      const auto& column = type(w(2));
      const std::uint64_t rows = operand(column, 0, 3);
      return saturating_multiply(layout.row_major ? rows : w(3), layout.matrix_stride);
    }
    case op::type_array: {
      const auto stride = decoration_of(type_id, decoration::array_stride);
      if (!stride) fail("an array in the push-constant block has no ArrayStride");
      return saturating_multiply(constant_value(w(3), "an array length"), *stride);
    }
    case op::type_struct:
      return struct_size(type_id, words, depth);
    case op::type_pointer:
      if (w(2) == storage::physical_storage_buffer) return 8;  // a buffer_reference
      break;
    default:
      break;
  }
  fail("the push-constant block holds a type (opcode " + std::to_string(words[0]) +
       ") without a size in memory");
}

std::uint32_t ModuleReader::push_constant_size() const {
  std::uint64_t size = 0;
  for (const auto& variable : variables_) {
    if (variable.storage_class != storage::push_constant) continue;
    const auto& pointer = type(variable.pointer_type);
    size = std::max(size, size_of(operand(pointer, 0, 3), {}, 0));
  }
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(size, ~std::uint32_t{0}));
}

}  // namespace

SpirvInterface reflect_spirv(std::span<const std::uint32_t> spirv, std::string_view entry_point,
                             std::span<const SpecializationConstant> specialization,
                             std::uint32_t max_push_constant_size, const std::string& label) {
  ModuleReader module(spirv, label);
  const EntryPoint& entry = module.compute_entry_point(entry_point);
  module.specialize(specialization);
  SpirvInterface interface {
    .entry_point = entry.name, .workgroup_size = module.workgroup_size(entry),
    .binding_mask = module.binding_mask(), .push_constant_size = module.push_constant_size()
  };
  if (interface.push_constant_size > max_push_constant_size) {
    module.fail("a push-constant block of " + std::to_string(interface.push_constant_size) +
                " bytes, over the " + std::to_string(max_push_constant_size) +
                " bytes vecaccel's pipelines declare");
  }
  return interface;
}

std::vector<std::uint32_t> read_spirv_file(const std::filesystem::path& path) {
  const std::string label = "SPIR-V file '" + path.string() + "'";
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    throw Error(Errc::io_error, label + " does not exist");
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw Error(Errc::io_error, label + " is not a regular file");
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(Errc::io_error, label + " cannot be opened: " + std::strerror(errno));
  const auto bytes = static_cast<std::uint64_t>(in.tellg());
  if (bytes % 4 != 0) {
    throw Error(Errc::pipeline_creation_failed,
                label + " is " + std::to_string(bytes) +
                    " bytes, not a whole number of 4-byte words: not a SPIR-V module");
  }
  std::vector<std::uint32_t> words(bytes / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(words.data()), static_cast<std::streamsize>(bytes));
  if (!in)
    throw Error(Errc::io_error, label + ": reading " + std::to_string(bytes) + " bytes failed");
  return words;
}

}  // namespace vecaccel::detail
