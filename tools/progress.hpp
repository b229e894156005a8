#pragma once
// A one-line progress bar on stderr with rate and ETA, for reading files, adding vectors and
// searching many batches. It draws only when stderr is a terminal (and not --quiet): piped or
// redirected output gets nothing extra, so logs and scripts see only the report.

#include <chrono>
#include <cstdint>
#include <string>

#include "vecaccel/vector_file.hpp"

namespace vecaccel::cli {

/// True when a progress bar should be drawn: not quiet and stderr is a terminal.
bool progress_wanted(bool quiet);

class Progress {
 public:
  enum class Unit { bytes, items };

  /// `label` leads the line; `item_name` names items in the rate ("queries/s", "rows/s").
  /// Draws nothing unless `enabled`.
  Progress(std::string label, std::uint64_t total, Unit unit, bool enabled,
           std::string item_name = "items");
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// An unfinished bar (an error unwound past it) is erased so the error line starts clean.
  ~Progress();

  /// Redraws at most ten times a second, and always at done == total.
  void update(std::uint64_t done);
  /// Draws the final state and ends the line.
  void finish();
  /// A callback for the vector-file readers and writers, bound to this bar.
  ProgressCallback callback();

 private:
  void draw(std::uint64_t done);

  using Clock = std::chrono::steady_clock;
  std::string label_;
  std::uint64_t total_;
  Unit unit_;
  bool enabled_;
  std::string item_name_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace vecaccel::cli
