#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <string>

#include "data/etl_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/io/paths.h"

namespace recblocks::etl::detail {

namespace {

std::string read_text(const std::filesystem::path& path) {
  io::check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  RB_CHECK(in, Error, "{}: cannot open for reading", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

}  // namespace

nlohmann::json parse_json_file(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ValueError(
        fmt::format("{}: invalid JSON at byte {}: {}", path.string(), e.byte, e.what()));
  } catch (const nlohmann::json::exception& e) {
    // The parser's other error: a number beyond double's range (1e400).
    throw ValueError(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
}

}  // namespace recblocks::etl::detail
