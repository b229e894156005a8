# Session 18's GPU experiment hooks (never committed; undo with git checkout of the files).
import re
def edit(p, pairs, prefix_include=True):
    s = open(p).read()
    for old, new in pairs:
        assert old in s, (p, old)
        s = s.replace(old, new, 1)
    if prefix_include: s = '#include <cstdlib>\n' + s
    open(p, 'w').write(s)
edit('src/ops/kernels.cpp', [
  ('  if (a.slots_by != RerankSlots::automatic) return a.slots_by;\n',
   '  if (a.slots_by != RerankSlots::automatic) return a.slots_by;\n  if (const char* v = std::getenv("VECACCEL_EXP_RERANK")) return v[0] == \'s\' && v[1] == \'t\' ? RerankSlots::staged : v[0] == \'s\' ? RerankSlots::subgroup : RerankSlots::thread;\n'),
  ('  return k <= small_k_limit ? 8192 : std::max(8192u, 4 * cap);\n',
   '  if (const char* v = std::getenv("VECACCEL_EXP_SEGMENT"); v != nullptr && k <= small_k_limit) return static_cast<std::uint32_t>(std::atoi(v));\n  return k <= small_k_limit ? 8192 : std::max(8192u, 4 * cap);\n'),
])
edit('src/ops/knn_engine.cpp', [
  ('  chunk_rows_ = std::min<std::uint64_t>(caps.max_storage_buffer_range / row_bytes, max_chunk_rows);\n',
   '  chunk_rows_ = std::min<std::uint64_t>(caps.max_storage_buffer_range / row_bytes, max_chunk_rows);\n  if (const char* v = std::getenv("VECACCEL_EXP_CHUNK_ROWS")) chunk_rows_ = std::min<std::uint64_t>(chunk_rows_, std::atoll(v));\n')])
edit('src/ops/knn_filtered.cpp', [
  ('void KnnEngine::keep_gather_chunks(std::vector<BaseChunk> chunks) const {\n',
   'void KnnEngine::keep_gather_chunks(std::vector<BaseChunk> chunks) const {\n  if (std::getenv("VECACCEL_EXP_NO_SPARES")) return;\n')])
edit('src/core/device_info.cpp', [
  ('      has_extension(extensions, VK_EXT_MEMORY_PRIORITY_EXTENSION_NAME);\n',
   '      has_extension(extensions, VK_EXT_MEMORY_PRIORITY_EXTENSION_NAME) && std::getenv("VECACCEL_EXP_NO_PAGEABLE") == nullptr;\n')])
print("hooked")
