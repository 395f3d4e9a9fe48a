#include "model/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace recblocks::detail {

namespace {

std::string clock_time(double seconds) {
  const auto s = static_cast<std::int64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

Progress::Progress(std::string label, std::int64_t total_steps, bool enabled, double plain_interval)
    : label_(std::move(label)),
      total_(total_steps),
      enabled_(enabled),
      tty_(enabled && isatty(STDERR_FILENO) == 1),
      plain_interval_(plain_interval),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::human(double value) {
  if (value >= 1e9) return fmt::format("{:.2f}G", value / 1e9);
  if (value >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
  if (value >= 1e4) return fmt::format("{:.0f}k", value / 1e3);
  if (value >= 1e3) return fmt::format("{:.1f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

void Progress::update(std::int64_t steps_done, std::int64_t rows_done, double loss) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (tty_ ? 0.1 : plain_interval_)) return;
  last_draw_ = now;
  draw(steps_done, rows_done, loss, false);
}

void Progress::draw(std::int64_t steps_done, std::int64_t rows_done, double loss, bool final_draw) {
  const double elapsed = seconds();
  const double rate = elapsed > 0 ? static_cast<double>(rows_done) / elapsed : 0.0;
  std::string line = fmt::format("{}  {}", label_, steps_done);
  if (total_ > 0) {
    line += fmt::format("/{}", total_);
    if (tty_) {
      constexpr int kWidth = 20;
      const auto filled = static_cast<int>(kWidth * steps_done / total_);
      line += " [" + std::string(static_cast<std::size_t>(filled), '=') +
              (filled < kWidth ? ">" : "") +
              std::string(static_cast<std::size_t>(std::max(0, kWidth - filled - 1)), ' ') + "]";
    }
  }
  line += fmt::format("  {} rows/s  loss {:.4f}", human(rate), loss);
  if (total_ > 0 && steps_done > 0 && !final_draw) {
    line += "  ETA " + clock_time(elapsed * static_cast<double>(total_ - steps_done) /
                                  static_cast<double>(steps_done));
  }
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish(const std::string& summary) {
  if (!enabled_) return;
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s  %s\n", label_.c_str(), summary.c_str());
  std::fflush(stderr);
}

}  // namespace recblocks::detail
