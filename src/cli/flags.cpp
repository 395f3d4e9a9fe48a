#include "flags.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <system_error>

#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"

namespace recblocks::cli {
namespace {

// The whole of `text` as a number, or nothing ("12abc", "", " 1" are not).
std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size() || text.empty()) return std::nullopt;
  // "1e400" overflows to an infinity, "1e-400" underflows to 0, as strtod says.
  if (ec == std::errc::result_out_of_range) return std::strtod(std::string(text).c_str(), nullptr);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

// The whole of `text` as an integer: decimal digits, or a number in
// scientific notation whose value is integral ("1e6"). Nothing for what is
// not one, `overflow` set for one beyond int64.
std::optional<std::int64_t> parse_integer(std::string_view text, bool& overflow) {
  overflow = false;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end == text.data() + text.size() && !text.empty()) {
    if (ec == std::errc()) return value;
    if (ec == std::errc::result_out_of_range) overflow = true;
    return std::nullopt;
  }
  const std::optional<double> number = parse_number(text);
  if (!number || !std::isfinite(*number) || std::trunc(*number) != *number) return std::nullopt;
  // 2^63 is the first double beyond int64.
  if (std::fabs(*number) >= 9223372036854775808.0) {
    overflow = true;
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*number);
}

std::string range_text(std::int64_t min, std::int64_t max, const std::string& what) {
  const std::string upper = max == kAnyCount ? "2^63 - 1" : fmt::format("{}", max);
  return fmt::format("an integer from {} to {}{}", min, upper,
                     what.empty() ? "" : " (" + what + ")");
}

}  // namespace

CLI::Validator integer_in(std::int64_t min, std::int64_t max, const std::string& what) {
  const std::string expected = range_text(min, max, what);
  return CLI::Validator(
      [min, max, expected](std::string& input) -> std::string {
        bool overflow = false;
        const std::optional<std::int64_t> value = parse_integer(input, overflow);
        if (!value && !overflow) {
          return fmt::format("{} is not an integer: expected {}", quoted_excerpt(input), expected);
        }
        if (overflow || *value < min || *value > max) {
          return fmt::format("{} is out of range: expected {}", quoted_excerpt(input), expected);
        }
        return {};
      },
      expected);
}

CLI::Validator seed_value() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        std::uint64_t value = 0;
        const auto [end, ec] = std::from_chars(input.data(), input.data() + input.size(), value);
        if (ec == std::errc() && end == input.data() + input.size() && !input.empty()) return {};
        return fmt::format("{} is not a seed: expected an integer from 0 to 2^64 - 1",
                           quoted_excerpt(input));
      },
      "an integer from 0 to 2^64 - 1");
}

CLI::Validator number_in(double min, double max, bool exclude_min) {
  const std::string expected =
      fmt::format("a number in {}{}, {}]", exclude_min ? "(" : "[", min, max);
  return CLI::Validator(
      [min, max, exclude_min, expected](std::string& input) -> std::string {
        const std::optional<double> value = parse_number(input);
        if (!value) {
          return fmt::format("{} is not a number: expected {}", quoted_excerpt(input), expected);
        }
        if (!std::isfinite(*value)) {
          return fmt::format("{} is not a finite number: expected {}", quoted_excerpt(input),
                             expected);
        }
        if (*value < min || *value > max || (exclude_min && *value == min)) {
          return fmt::format("{} is out of range: expected {}", quoted_excerpt(input), expected);
        }
        return {};
      },
      expected);
}

CLI::Validator thread_count() {
  return integer_in(1, max_threads(), "the logical CPUs of this machine");
}

CLI::Option* add_overwrite_flag(CLI::App& cmd, bool& overwrite) {
  return cmd.add_flag("--overwrite", overwrite,
                      "Replace an existing file or a directory of another kind at the output "
                      "path (never one of the command's inputs)");
}

}  // namespace recblocks::cli
