#include "recblocks/core/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>

#include "recblocks/core/checked.h"

namespace recblocks {
namespace {

constexpr std::size_t kUnlimited = std::numeric_limits<std::size_t>::max();
// The share of the usable memory the default limit allows: the rest is
// left for what is not counted (code, stacks, memory-mapped data, the
// allocator's own overhead, other processes).
constexpr std::size_t kDefaultPercent = 80;

std::atomic<std::size_t> g_in_use{0};
std::atomic<std::size_t> g_limit{0};  // 0: not set, use the default

std::size_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return kUnlimited;
  return checked_mul(static_cast<std::size_t>(pages), static_cast<std::size_t>(page_size))
      .value_or(kUnlimited);
}

// cgroup v2's memory.max of this process ("max" or a byte count), if any.
std::size_t cgroup_memory() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string text;
  if (!(in >> text) || text == "max") return kUnlimited;
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value > 0 ? value : kUnlimited;
}

std::size_t address_space_limit() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnlimited;
  return static_cast<std::size_t>(limit.rlim_cur);
}

// What the process can use: the smallest of RAM, cgroup and ulimit -v.
std::size_t usable_memory() {
  return std::min({physical_memory(), cgroup_memory(), address_space_limit()});
}

std::size_t compute_default() {
  const std::size_t usable = usable_memory();
  if (const char* env = std::getenv("RECBLOCKS_MAX_MEMORY"); env != nullptr && *env != '\0') {
    const std::optional<std::size_t> parsed = parse_memory_size(env, usable);
    RB_CHECK(parsed.has_value() && *parsed > 0, ValueError,
             "RECBLOCKS_MAX_MEMORY is '{}', expected a positive size in bytes with an optional "
             "suffix K, M, G or T (e.g. 12G), or a percentage of the memory (e.g. 50%)",
             std::string_view(env).substr(0, 40));
    return *parsed;
  }
  if (usable == kUnlimited) return kUnlimited;
  return usable / 100 * kDefaultPercent;
}

std::string over_limit_message(std::size_t bytes, std::string_view what, std::size_t in_use,
                               std::size_t limit) {
  return fmt::format(
      "{} needs {} ({} bytes); {} are in use and the memory limit is {} (set it with "
      "RECBLOCKS_MAX_MEMORY=64G or recblocks::set_memory_limit)",
      what, format_bytes(bytes), bytes, format_bytes(in_use), format_bytes(limit));
}

}  // namespace

std::size_t default_memory_limit() {
  // Read once: the environment and the machine do not change under us.
  static const std::size_t kDefault = compute_default();
  return kDefault;
}

std::size_t memory_limit() {
  const std::size_t set = g_limit.load(std::memory_order_relaxed);
  return set != 0 ? set : default_memory_limit();
}

void set_memory_limit(std::size_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

std::size_t memory_in_use() { return g_in_use.load(std::memory_order_relaxed); }

void check_allocation(std::size_t bytes, std::string_view what) {
  const std::size_t limit = memory_limit();
  const std::size_t in_use = memory_in_use();
  RB_CHECK(bytes <= limit && in_use <= limit - bytes, MemoryLimitError, "{}",
           over_limit_message(bytes, what, in_use, limit));
}

void reserve_memory(std::size_t bytes, std::string_view what) {
  const std::size_t limit = memory_limit();
  std::size_t in_use = g_in_use.load(std::memory_order_relaxed);
  for (;;) {
    RB_CHECK(bytes <= limit && in_use <= limit - bytes, MemoryLimitError, "{}",
             over_limit_message(bytes, what, in_use, limit));
    if (g_in_use.compare_exchange_weak(in_use, in_use + bytes, std::memory_order_relaxed)) return;
  }
}

void release_memory(std::size_t bytes) noexcept {
  g_in_use.fetch_sub(bytes, std::memory_order_relaxed);
}

std::string format_bytes(std::size_t bytes) {
  if (bytes == kUnlimited) return "unlimited";
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.3g} {}", value, kUnits[unit]);
}

std::optional<std::size_t> parse_memory_size(std::string_view text, std::size_t base) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  std::size_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (suffix == "%") {
    if (value == 0 || value > 100 || base == kUnlimited) return std::nullopt;
    return base / 100 * value;
  }
  if (!suffix.empty() && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.remove_suffix(1);
  if (suffix.size() == 2 && (suffix[1] == 'i' || suffix[1] == 'I')) suffix.remove_suffix(1);
  int shift = 0;
  if (suffix.size() == 1) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
      default: return std::nullopt;
    }
  } else if (!suffix.empty()) {
    return std::nullopt;
  }
  return checked_mul(value, std::size_t{1} << shift);
}

}  // namespace recblocks
