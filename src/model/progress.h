// Progress of fit() and evaluate() on stderr.
//
// On a terminal, one line redrawn at most ten times a second:
//   epoch 2/5  412/782 [==========>         ]  1.21M rows/s  loss 0.5321  ETA 0:03
// Otherwise (a log file, CI) plain lines, one every `plain_interval`
// seconds at most, so logs stay short. finish() prints the summary line in
// both cases.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace recblocks::detail {

class Progress {
 public:
  // total_steps 0: unknown (no bar, no ETA).
  Progress(std::string label, std::int64_t total_steps, bool enabled, double plain_interval = 10.0);

  void update(std::int64_t steps_done, std::int64_t rows_done, double loss);
  // Ends the bar with `summary` ("782 steps, 1.2 s, 650k rows/s, loss ...").
  void finish(const std::string& summary);
  double seconds() const;

  // "1.21M", "650k", "12"
  static std::string human(double value);

 private:
  void draw(std::int64_t steps_done, std::int64_t rows_done, double loss, bool final_draw);

  std::string label_;
  std::int64_t total_ = 0;
  bool enabled_ = false;
  bool tty_ = false;
  double plain_interval_ = 10.0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  bool drawn_ = false;
};

}  // namespace recblocks::detail
