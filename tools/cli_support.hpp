#pragma once
// Helpers the search, bench and demo commands share: input checks whose messages name the
// file, row, column and value; synthetic data; device and JSON text.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "vecaccel/context.hpp"
#include "vecaccel/metric.hpp"
#include "vecaccel/sharded_index.hpp"
#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// Throws invalid_argument "<file>: row R, column C is <value>" for the first NaN or Inf.
void check_finite(const Matrix<float>& matrix, std::string_view file);

/// A CLI11 check for --metric, so an unknown metric is a parse error (exit 2).
CLI::Validator metric_validator();
/// --metric's help, the same in every command that takes one.
inline constexpr const char* metric_help =
    "l2 (squared), ip (inner product), cosine, l1 (sum of |q - x|) or linf (largest |q - x|)";

/// A CLI11 check for a whole number in [min, max]: the message names the text given ("'abc' is
/// not a whole number", not CLI11's "not in range"); CLI11 puts the option's name before it.
CLI::Validator whole_number_in(std::uint64_t min, std::uint64_t max);

/// The largest -k: any k the library takes (it counts a query's neighbours in 32 bits; past
/// the base's rows results are padded).
inline constexpr std::uint64_t max_k = 0x7fffffff;

/// A CLI11 check for a file path: an empty one (--output '') names no file and is refused.
CLI::Validator non_empty_path();

/// "name (type)" of the context's device.
std::string device_text(const Context& context);

/// A number as a person wrote it: 12.5, 3, 1e+09 (up to 9 significant digits), nan.
std::string number_text(double value);

/// `text` as a JSON string literal, quotes included.
std::string json_string(std::string_view text);

/// --devices: "all" (ShardedIndex::all_devices()) or enumerate() indices separated by commas
/// (a device may repeat); UsageError otherwise.
std::vector<std::uint32_t> parse_devices(const std::string& text);

/// "name (type) + name (type)": the devices of a search, or of a sharded index.
std::string device_text(std::span<Context* const> devices);
std::string device_text(ShardedIndex& index);

/// rows x dim standard-normal floats.
std::vector<float> normal_data(std::size_t rows, std::size_t dim, std::uint64_t seed);

/// rows x dim standard-normal floats generated on every core: blocks of rows each have their
/// own seed, so the values do not depend on the number of threads (nor equal normal_data's).
std::vector<float> parallel_normal_data(std::size_t rows, std::size_t dim, std::uint64_t seed);

/// rows x dim points around `clusters` standard-normal centres (spread `sigma` per coordinate);
/// The same centre_seed gives the same centres, so base and queries can share them.
std::vector<float> clustered_data(std::size_t rows, std::size_t dim, std::size_t clusters,
                                  float sigma, std::uint64_t centre_seed, std::uint64_t seed);

}  // namespace vecaccel::cli
