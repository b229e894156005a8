#include "progress.hpp"

#include <unistd.h>
#include <cmath>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace vecaccel::cli {
namespace {

constexpr int kBarWidth = 24;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string rate_text(double per_second, Progress::Unit unit, const std::string& item_name) {
  char buf[48];
  if (unit == Progress::Unit::bytes) {
    std::snprintf(buf, sizeof buf, "%.1f MB/s", per_second / 1e6);
  } else if (per_second >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM %s/s", per_second / 1e6, item_name.c_str());
  } else if (per_second >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk %s/s", per_second / 1e3, item_name.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%.0f %s/s", per_second, item_name.c_str());
  }
  return buf;
}

std::string duration_text(double seconds) {
  const auto s = std::llround(seconds);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

bool progress_wanted(bool quiet) {
  return !quiet && ::isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, std::uint64_t total, Unit unit, bool enabled,
                   std::string item_name)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      enabled_(enabled && total > 0),
      item_name_(std::move(item_name)) {}

Progress::~Progress() {
  if (drawn_ && !finished_) {
    std::fputs("\r\033[K", stderr);  // erase the line: the error that follows gets it clean
    std::fflush(stderr);
  }
}

void Progress::update(std::uint64_t done) {
  if (!enabled_ || finished_) return;
  const auto now = Clock::now();
  if (done < total_ && drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(done);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  draw(total_);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  finished_ = true;
}

ProgressCallback Progress::callback() {
  if (!enabled_) return {};
  return [this](std::uint64_t done, std::uint64_t total) {
    total_ = std::max<std::uint64_t>(total, 1);
    update(done);
  };
}

void Progress::draw(std::uint64_t done) {
  done = std::min(done, total_);
  const double fraction = static_cast<double>(done) / static_cast<double>(total_);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kBarWidth, '.');
  std::string eta = "--:--";
  if (done == total_) {
    eta = duration_text(elapsed);
  } else if (rate > 0) {
    eta = duration_text(static_cast<double>(total_ - done) / rate);
  }
  std::fprintf(stderr, "\r%s [%s] %3.0f%%  %s  %s %s\033[K", label_.c_str(), bar.c_str(),
               fraction * 100.0, rate_text(rate, unit_, item_name_).c_str(),
               done == total_ ? "in" : "ETA", eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace vecaccel::cli
