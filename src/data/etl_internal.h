// Shared by the ETL's sources (categorify.cpp, workflow.cpp): reading the
// JSON state files they save.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>

namespace recblocks::etl::detail {

// The file parsed as JSON; errors name the file (and the byte of a syntax
// error).
nlohmann::json parse_json_file(const std::filesystem::path& path);

}  // namespace recblocks::etl::detail
