// Reading a JSON file with errors that name it.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string_view>

namespace recblocks::io {

// The parsed file. Throws ValueError "<path>: cannot open the file",
// "<path>: not valid JSON at line L, column C: <what was wrong>" (a number
// beyond a double's range, such as 1e400, included) or "<path>: the key
// 'k' appears twice in one object". Messages quote at most ~200
// characters of the file, control and non-UTF-8 bytes escaped.
nlohmann::json read_json_file(const std::filesystem::path& path);
// The same for text in memory; `source` names it in errors.
nlohmann::json parse_json_text(std::string_view text, std::string_view source);

}  // namespace recblocks::io
