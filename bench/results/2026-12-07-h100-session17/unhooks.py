p='src/ops/kernels.cpp'
s=open(p).read()
s=s.replace('  if (std::getenv("VECACCEL_EXP_RERANK")) return RerankSlots::thread;\n','')
s=s.replace('#include <bit>\n#include <cstdlib>\n','#include <bit>\n',1)
s=s.replace('''static std::uint32_t exp_setting(const char* name, std::uint32_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? static_cast<std::uint32_t>(std::atoi(v)) : fallback;
}

''','')
s=s.replace('std::min(caps.max_shared_memory_bytes, exp_setting("VECACCEL_EXP_STREAM_SHARED", stream_room_budget))','std::min(caps.max_shared_memory_bytes, stream_room_budget)')
s=s.replace('std::min(\n      exp_setting("VECACCEL_EXP_STREAM_BLOCK", stream_block_target),','std::min(\n      stream_block_target,')
s=s.replace('const std::uint64_t wanted = exp_setting("VECACCEL_EXP_STREAM_WG", stream_workgroups_wanted);','const std::uint64_t wanted = stream_workgroups_wanted;')
assert 'VECACCEL_EXP' not in s
open(p,'w').write(s)
p='src/ops/knn_engine.cpp'
s=open(p).read()
s=s.replace('  if (const char* v = std::getenv("VECACCEL_EXP_CHUNK_ROWS")) chunk_rows_ = std::min<std::uint64_t>(chunk_rows_, std::atoll(v));\n','')
if s.startswith('#include <cstdlib>\n'): s=s[len('#include <cstdlib>\n'):]
assert 'VECACCEL_EXP' not in s
open(p,'w').write(s)
p='src/ops/knn_plan.cpp'
s=open(p).read()
s=s.replace('  const bool tensor_batch = shape.queries > small_query_limit && !(streamed && !(std::getenv("VECACCEL_EXP_STREAM_Q8") && shape.queries > small_query_limit));','  const bool tensor_batch = shape.queries > small_query_limit && !streamed;')
s=s.replace('  p.stream = streaming_precision && stream.has_value() && kk <= small_k_limit && !(std::getenv("VECACCEL_EXP_STREAM_Q8") && shape.queries > small_query_limit);','  p.stream = streaming_precision && stream.has_value() && kk <= small_k_limit;')
if s.startswith('#include <cstdlib>\n'): s=s[len('#include <cstdlib>\n'):]
assert 'VECACCEL_EXP' not in s
open(p,'w').write(s)

p='src/ops/knn_filtered.cpp'
s=open(p).read()
s=s.replace('  if (std::getenv("VECACCEL_EXP_NO_SPARES")) return;\n','')
if s.startswith('#include <cstdlib>\n'): s=s[len('#include <cstdlib>\n'):]
assert 'VECACCEL_EXP' not in s
open(p,'w').write(s)
