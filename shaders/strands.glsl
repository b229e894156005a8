// Strand order: how the row kernels (row_norms.comp, half_rows.glsl) sum a row, so that a
// thread a row and a subgroup a row give the same bits. Strand s (0..31) is the running fma
// sum over the row's elements (or pairs) whose index is s mod 32, in index order; the row's
// sum is the 32 strands added in strand order, starting from 0. The dependent chain is a 32nd
// of the row (one lane a strand on 32-wide subgroups), and its error is within the bound
// certificate.cpp takes for a sum in element order.
//
// A subgroup of S lanes (8 or more) holds strand lane + S t in slot t of its lanes' arrays;
// lanes past the 32nd of a wider subgroup hold none.

const uint STRANDS = 32u;
// Slots a lane holds: 32 strands over 8 lanes at least.
const uint LANE_STRANDS = 4u;
// Strides of 32 elements a lane loads a turn of the subgroup loop: loads in flight at once, and
// few turns (lavapipe ends an outermost loop after 65535 turns of it and its inner loops).
const uint TURN_STRIDES = 4u;

/// The strand held in slot t by this lane (STRANDS or more: none).
uint lane_strand(uint t) {
  const uint s = gl_SubgroupInvocationID + gl_SubgroupSize * t;
  return gl_SubgroupInvocationID < STRANDS && (t == 0u || gl_SubgroupSize < STRANDS) ? s
                                                                                    : STRANDS;
}

float strands_in_order(float strand[STRANDS]) {
  precise float sum = 0.0;
  [[unroll]] for (uint s = 0u; s < STRANDS; ++s) sum += strand[s];
  return sum;
}

/// strands_in_order over the subgroup's slots (every lane gets the sum).
float lane_strands_in_order(float strand[LANE_STRANDS]) {
  precise float sum = 0.0;
  // 8 strands a turn, unrolled within, the slot picked by constant indices (registers).
  for (uint s0 = 0u; s0 < STRANDS; s0 += 8u) {
    [[unroll]] for (uint u = 0u; u < 8u; ++u) {
      const uint s = s0 + u;
      const uint slot = s / gl_SubgroupSize;
      float mine = strand[0];
      [[unroll]] for (uint t = 1u; t < LANE_STRANDS; ++t) {
        if (slot == t) mine = strand[t];
      }
      sum += subgroupShuffle(mine, s % gl_SubgroupSize);
    }
  }
  return sum;
}
