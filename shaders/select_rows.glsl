// Multi-workgroup radix selection (AIR top-k / RAFT select_k style), shared by
// select_rows_{histogram,scan,gather,ties}.comp: the k smallest keys of each row, any k, in
// global memory. Several workgroups per row (slices of slice_length columns) each histogram
// one 11-bit digit of their slice's keys in shared memory and add it to the row's histogram;
// a scan finds the bin of the k-th key; three digit passes (11, 11, 10 bits) fix the k-th key
// exactly. Keys known to be in (a smaller digit than the k-th key's at some pass) are written
// out by the next pass as it histograms (fused filter), through one atomic per subgroup on
// the row's cursor. Keys equal to the k-th are taken in column order, so the same input
// always selects the same set. Output is unsorted, except that the row's last slot (k - 1)
// holds a key equal to the k-th: the row's worst candidate, which the certificate reads.
// Pass 1 also compacts the keys in the k-th key's first-digit bin (AIR top-k's filter): where
// they fit the row's room, pass 2 and the gather read them alone instead of the whole row
// (on an H100, 1,000 x 262,144 tiles at k = 1,136: four full reads a tile become two).
//
// A row is two sources: `a` (a_cols candidates with labels, e.g. the running best of earlier
// tiles) then `b` (b_cols values labelled b_label_offset + column, e.g. a distance tile).
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_GOOGLE_include_directive : require
#include "keys.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(push_constant) uniform Constants {
  uint rows;
  uint a_cols;  // candidates of source a per row (0: none)
  uint a_stride;
  uint a_offset;
  uint b_cols;
  uint b_stride;
  uint b_offset;
  uint b_label_offset;
  uint k;
  uint largest;
  uint out_stride;
  uint out_offset;
  uint slice_length;  // columns per workgroup
  uint state_stride;  // words of state per row
  uint pass;          // digit pass 0..2
  uint has_bound;     // 1: source a holds k candidates whose worst sits at a_offset + k - 1
  uint compact_offset;    // word of state where the rows' compacted keys start
  uint compact_capacity;  // compacted keys a row holds at most
} pc;

layout(set = 0, binding = 0, std430) readonly buffer AValues { float a_values[]; };
layout(set = 0, binding = 1, std430) readonly buffer ALabels { int a_labels[]; };
layout(set = 0, binding = 2, std430) readonly buffer BValues { float b_values[]; };
layout(set = 0, binding = 2, std430) readonly buffer BValues4 { vec4 b_values4[]; };
layout(set = 0, binding = 3, std430) writeonly buffer OutValues { float out_values[]; };
layout(set = 0, binding = 4, std430) writeonly buffer OutLabels { int out_labels[]; };
// Per row: [0] the k-th key's prefix found so far, [1] unused, [2] keys equal to that prefix
// still to take, [3] the output cursor, [4] the keys compacted by pass 1, [8, 8 + 2048) the
// digit histogram, then one tie count per slice. After every row's: per row, room for
// compact_capacity (value bits, column) pairs.
layout(set = 0, binding = 5, std430) buffer State { uint state[]; };

const uint STATE_PREFIX = 0u;
const uint STATE_REMAINING = 2u;
const uint STATE_CURSOR = 3u;
const uint STATE_COMPACTED = 4u;
const uint STATE_BINS = 8u;
const uint BINS = 2048u;
const uint STATE_TIES = STATE_BINS + BINS;
const uint WORST_KEY = 0xffffffffu;
const int NO_LABEL = -1;

/// Bits of the key fixed before pass p (and, for p = 3, all of them).
uint mask_before(uint p) {
  return p == 0u ? 0u : (p == 1u ? 0xffe00000u : (p == 2u ? 0xfffffc00u : 0xffffffffu));
}
uint digit_of(uint key, uint p) {
  return p == 0u ? key >> 21u : (p == 1u ? (key >> 10u) & 0x7ffu : key & 0x3ffu);
}
uint bins_of(uint p) { return p == 2u ? 1024u : BINS; }
uint shift_of(uint p) { return p == 0u ? 21u : (p == 1u ? 10u : 0u); }

uint row_cols() { return pc.a_cols + pc.b_cols; }
uint row_want() { return min(pc.k, row_cols()); }
uint state_base(uint row) { return row * pc.state_stride; }

float value_at(uint row, uint col) {
  return col < pc.a_cols ? a_values[pc.a_offset + row * pc.a_stride + col]
                         : b_values[pc.b_offset + row * pc.b_stride + (col - pc.a_cols)];
}
int label_at(uint row, uint col) {
  return col < pc.a_cols ? a_labels[pc.a_offset + row * pc.a_stride + col]
                         : int(pc.b_label_offset + (col - pc.a_cols));
}
uint to_key(float v) { return order_key(v, pc.largest != 0u); }

/// Columns col .. col + 3 of a row, those below end (0 past it). The passes that read every
/// column take four a lane (col a multiple of 4: slices start at multiples of their length, a
/// multiple of the workgroup size), in one 16-byte load where the four lie in source b on a
/// 16-byte boundary (the columns after source a and each row of b start on one), else one by
/// one. Measured on an H100 (1,000 x 262,144 tiles, one float a lane): the histogram passes
/// read 1.2 TB/s.
vec4 values_at(uint row, uint col, uint end) {
  const bool b_aligned = pc.a_cols % 4u == 0u && pc.b_offset % 4u == 0u && pc.b_stride % 4u == 0u;
  if (b_aligned && col >= pc.a_cols && col + 3u < end) {
    return b_values4[(pc.b_offset + row * pc.b_stride + col - pc.a_cols) / 4u];
  }
  vec4 v = vec4(0.0);
  [[unroll]] for (uint i = 0u; i < 4u; ++i) {
    if (col + i < end) v[i] = value_at(row, col + i);
  }
  return v;
}

/// Keys above this cannot be among the row's k best: source a alone holds k keys no worse
/// (its worst at slot k - 1). Equal keys stay: the bound itself may be the k-th.
uint row_bound(uint row) {
  return pc.has_bound != 0u ? to_key(a_values[pc.a_offset + row * pc.a_stride + pc.k - 1u])
                            : WORST_KEY;
}

/// The lanes with `take` claim consecutive slots of the row counter at state word `counter`,
/// one atomic per subgroup; returns the lane's slot (meaningful where `take`).
uint claim_slots(bool take, uint counter) {
  const uvec4 ballot = subgroupBallot(take);
  const uint count = subgroupBallotBitCount(ballot);
  if (count == 0u) return 0u;  // uniform: no lane takes one
  uint first = 0u;
  if (subgroupElect()) first = atomicAdd(state[counter], count);
  return subgroupBroadcastFirst(first) + subgroupBallotExclusiveBitCount(ballot);
}

/// Appends (value, column) of the lanes with `take` to the row's compacted keys. Past the
/// row's room only the count grows, which tells the later passes to read the whole row.
void compact(bool take, uint row, uint col, float value) {
  const uint slot = claim_slots(take, state_base(row) + STATE_COMPACTED);
  if (take && slot < pc.compact_capacity) {
    const uint at = pc.compact_offset + 2u * (row * pc.compact_capacity + slot);
    state[at] = floatBitsToUint(value);
    state[at + 1u] = col;
  }
}

/// After pass 1: whether the row's keys in the k-th key's first-digit bin all fit its room.
bool compacted(uint row) {
  return state[state_base(row) + STATE_COMPACTED] <= pc.compact_capacity;
}

/// The workgroup's share of the row's compacted keys, [begin, end): the row's workgroups
/// split them evenly.
uvec2 compacted_share(uint row) {
  const uint count = state[state_base(row) + STATE_COMPACTED];
  const uint per = (count + gl_NumWorkGroups.x - 1u) / gl_NumWorkGroups.x;
  const uint begin = min(gl_WorkGroupID.x * per, count);
  return uvec2(begin, min(begin + per, count));
}

/// Compacted key i of a row: (value bits, column).
uvec2 compacted_key(uint row, uint i) {
  const uint at = pc.compact_offset + 2u * (row * pc.compact_capacity + i);
  return uvec2(state[at], state[at + 1u]);
}

/// Appends the pairs of the lanes with `take` at the row's cursor.
void emit(bool take, uint row, uint col, float value) {
  const uint slot = claim_slots(take, state_base(row) + STATE_CURSOR);
  if (take) {
    const uint o = pc.out_offset + row * pc.out_stride + slot;
    out_values[o] = value;
    out_labels[o] = label_at(row, col);
  }
}
