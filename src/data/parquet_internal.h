// Shared by the Parquet reader and writer (src/data/parquet_*.cpp); no Arrow here.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace recblocks::datasets::parquet_detail {

// File names in the order a writer numbers them: digit runs compare as
// numbers ("part_2" < "part_10"), the rest byte by byte.
bool natural_less(std::string_view a, std::string_view b);
// Names a dataset reader skips: ".x" and "_x" (_metadata, _SUCCESS).
bool is_hidden_name(std::string_view name);

// An Arrow or Parquet message for one line of ours: whitespace runs become
// one space, other control bytes are escaped, and at most ~240 characters
// are kept ("(Arrow: ...)" quotes it).
std::string arrow_message(std::string_view message);

// "<file>: <what> (Arrow: <message>)".
[[noreturn]] void throw_arrow_error(const std::filesystem::path& file, std::string_view what,
                                    std::string_view message);

}  // namespace recblocks::datasets::parquet_detail
