#include "recblocks/io/json.h"

#include <fstream>
#include <sstream>

#include "recblocks/core/error.h"
#include "recblocks/io/paths.h"

namespace recblocks::io {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  check_input_file(path);
  std::ifstream in(path, std::ios::binary);
  RB_CHECK(in.good(), ValueError, "{}: cannot open the file", path.string());
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

}  // namespace recblocks::io
