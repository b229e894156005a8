// Order-preserving keys for selection, shared by the selection and fused kNN kernels.
//
// A float becomes a uint whose unsigned order is the float order (flip all bits of negatives,
// the sign bit of the rest); "largest first" inverts it, so every kernel selects the smallest
// keys. Ties are broken by the smaller label, which makes every result deterministic.

uint order_key(float v, bool largest) {
  const uint bits = floatBitsToUint(v);
  const uint ordered = (bits & 0x80000000u) != 0u ? ~bits : (bits | 0x80000000u);
  return largest ? ~ordered : ordered;
}

float key_value(uint key, bool largest) {
  const uint ordered = largest ? ~key : key;
  const uint bits = (ordered & 0x80000000u) != 0u ? (ordered & 0x7fffffffu) : ~ordered;
  return uintBitsToFloat(bits);
}

/// Padding when fewer than k candidates exist: +inf for smallest-first, -inf for largest.
float worst_value(bool largest) {
  return uintBitsToFloat(largest ? 0xff800000u : 0x7f800000u);
}

/// Labels compare as unsigned so "no label" (all bits set) sorts after every real label.
bool key_before(uint key_a, uint label_a, uint key_b, uint label_b) {
  return key_a < key_b || (key_a == key_b && label_a < label_b);
}
