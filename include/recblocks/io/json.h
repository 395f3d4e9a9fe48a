// Reading a JSON file with errors that name it.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

namespace recblocks::io {

// The parsed file. Throws ValueError "<path>: cannot open the file" or
// "<path>: not valid JSON: <parser message with the byte position>".
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace recblocks::io
