// Range checks of the command's flags, run by the parser (CLI11 validators)
// before any work starts: a value that is not a number, out of range, NaN
// or infinite is one line naming the flag, the value (quoted, at most 200
// characters) and the accepted range, e.g.
//   recblocks: --threads: 5000 is out of range: expected an integer from 1 to 16 (the logical
//   CPUs of this machine) (see 'recblocks --help')
//
//   cmd->add_option("--epochs", args->epochs, "Epochs")->check(integer_in(0, kMaxEpochs));
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace recblocks::cli {

// The bounds of the size flags. Each is far above what a model or a data
// set of this CPU library uses, and low enough that the sizes derived from
// it (width x width kernels, rows x columns buffers) stay countable.
inline constexpr std::int64_t kMaxWidth = 1 << 16;            // units of a layer, embedding dims
inline constexpr std::int64_t kMaxBatchSize = 1 << 24;        // rows per step
inline constexpr std::int64_t kMaxEpochs = 1'000'000;         // also --early-stopping patience
inline constexpr std::int64_t kMaxRows = 1'000'000'000;       // rows generated (synthetic, demo)
inline constexpr std::int64_t kMaxCardinality = 100'000'000;  // tables, bins, buckets, users
inline constexpr std::int64_t kMaxLayers = 100;               // cross/PLE layers
inline constexpr std::int64_t kMaxExperts = 1024;
inline constexpr std::int64_t kMaxK = 1'000'000;     // top-k, sampled items and negatives
inline constexpr std::int64_t kMaxHistory = 10'000;  // items of a history list
inline constexpr double kMaxRate = 1e6;              // learning rates, temperatures, weights
inline constexpr std::int64_t kAnyCount = std::numeric_limits<std::int64_t>::max();

// An integer in [min, max]: the whole value must be one ("12", or an
// integral "1e6"); `what` says what bounds it, for the message.
CLI::Validator integer_in(std::int64_t min, std::int64_t max, const std::string& what = "");
// A seed: an integer from 0 to 2^64 - 1.
CLI::Validator seed_value();
// A finite number in [min, max], or (min, max] with exclude_min.
CLI::Validator number_in(double min, double max, bool exclude_min = false);
// --threads: 1 to max_threads().
CLI::Validator thread_count();

// The --overwrite flag of a command that writes: allows replacing an
// existing file or a directory of another kind (io::check_output).
CLI::Option* add_overwrite_flag(CLI::App& cmd, bool& overwrite);

}  // namespace recblocks::cli
