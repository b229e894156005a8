# Applies the session's GPU experiment hooks (never committed): env overrides of the stream
# kernel's constants and of the chunk rows.
import re,sys
p='src/ops/kernels.cpp'
s=open(p).read()
if 'exp_setting' not in s:
    s=s.replace('#include <bit>\n','#include <bit>\n#include <cstdlib>\n',1)
    s=s.replace('std::optional<StreamShape> stream_shape(','''static std::uint32_t exp_setting(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<std::uint32_t>(std::atoi(v)) : fallback;
}

std::optional<StreamShape> stream_shape(''',1)
    s=s.replace('std::min(caps.max_shared_memory_bytes, stream_room_budget)','std::min(caps.max_shared_memory_bytes, exp_setting("VECACCEL_EXP_STREAM_SHARED", stream_room_budget))')
    s=s.replace('std::min(\n      stream_block_target,','std::min(\n      exp_setting("VECACCEL_EXP_STREAM_BLOCK", stream_block_target),')
    s=s.replace('const std::uint64_t wanted = stream_workgroups_wanted;','const std::uint64_t wanted = exp_setting("VECACCEL_EXP_STREAM_WG", stream_workgroups_wanted);')
    assert s.count('VECACCEL_EXP')==3, s.count('VECACCEL_EXP')
    open(p,'w').write(s)
p='src/ops/knn_engine.cpp'
s=open(p).read()
if 'VECACCEL_EXP_CHUNK_ROWS' not in s:
    old='  chunk_rows_ = std::min<std::uint64_t>(caps.max_storage_buffer_range / row_bytes, max_chunk_rows);\n'
    assert old in s
    s=s.replace(old, old+'  if (const char* v = std::getenv("VECACCEL_EXP_CHUNK_ROWS")) chunk_rows_ = std::min<std::uint64_t>(chunk_rows_, std::atoll(v));\n')
    s='#include <cstdlib>\n'+s
    open(p,'w').write(s)
p='src/ops/knn_plan.cpp'
s=open(p).read()
if 'VECACCEL_EXP_STREAM_Q' not in s:
    old='  const bool tensor_batch = shape.queries > small_query_limit && !streamed;'
    assert old in s
    s=s.replace(old,'  const bool tensor_batch = shape.queries > small_query_limit && !(streamed && !(std::getenv("VECACCEL_EXP_STREAM_Q8") && shape.queries > small_query_limit));')
    s=s.replace('  p.stream = streaming_precision && stream.has_value() && kk <= small_k_limit;','  p.stream = streaming_precision && stream.has_value() && kk <= small_k_limit && !(std::getenv("VECACCEL_EXP_STREAM_Q8") && shape.queries > small_query_limit);')
    s='#include <cstdlib>\n'+s
    open(p,'w').write(s)

p='src/ops/kernels.cpp'
s=open(p).read()
if 'VECACCEL_EXP_RERANK' not in s:
    old='  if (a.slots_by != RerankSlots::automatic) return a.slots_by;\n'
    assert old in s
    s=s.replace(old, old+'  if (std::getenv("VECACCEL_EXP_RERANK")) return RerankSlots::thread;\n')
    open(p,'w').write(s)

p='src/ops/knn_filtered.cpp'
s=open(p).read()
if 'VECACCEL_EXP_NO_SPARES' not in s:
    old='void KnnEngine::keep_gather_chunks(std::vector<BaseChunk> chunks) const {\n'
    assert old in s
    s=s.replace(old, old+'  if (std::getenv("VECACCEL_EXP_NO_SPARES")) return;\n')
    s='#include <cstdlib>\n'+s
    open(p,'w').write(s)
