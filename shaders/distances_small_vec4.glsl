// Distances for a handful of queries (stream_rows.glsl), written out: values[m][row]. The
// tiled kernel would compute whole query tiles, almost all of them empty, here. Same bindings
// as distances_small.
#include "stream_rows.glsl"

void main() {
  const uint subgroups_total = gl_NumWorkGroups.x * gl_NumSubgroups;
  const uint turn_rows = subgroup_turn_rows();
  float query_norm[MAX_QUERIES];
  load_query_norms(query_norm);
  for (uint turn = (gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID) * turn_rows;
       turn < pc.num_base; turn += subgroups_total * turn_rows) {
    uint row;
    float value[MAX_QUERIES];
    turn_values(turn, query_norm, row, value);
    // One store per query covers the group's ROWS rows (its lanes 0..ROWS-1).
    [[unroll]] for (uint m = 0; m < MAX_QUERIES; ++m) {
      if (m < pc.num_queries && row < pc.num_base) {
        out_values[pc.out_offset + m * pc.out_stride + row] = value[m];
      }
    }
  }
}
