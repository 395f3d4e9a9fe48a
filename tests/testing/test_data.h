// The real data sets some tests read (ml-100k, the Criteo sample), found
// without failing when they are absent: a test that needs one skips with
// the reason (GTEST_SKIP, which ctest reports as skipped).
//
//   RB_REQUIRE_TEST_DATA(raw, "ml-100k", "u.data");   // fs::path raw, or skip
//
// Places, in order: the data directory, $RECBLOCKS_SHARED_DATA when set
// (ctest sets it to the CMake cache variable RECBLOCKS_TEST_DATA_DIR,
// ../shared/data by default), else <source dir>/../shared/data; then the
// download cache RECBLOCKS_TEST_DATA_CACHE (<build dir>/test_data by
// default), where the ctest fixture data.fetch_ml100k downloads ml-100k
// (tests/data/fetch_test_data.sh).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace recblocks::testing_data {

namespace fs = std::filesystem;

// The folders searched for <name>/, in order.
inline std::vector<fs::path> data_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("RECBLOCKS_SHARED_DATA"); env != nullptr && env[0] != 0) {
    dirs.emplace_back(env);
  } else {
    dirs.emplace_back(RECBLOCKS_TEST_DEFAULT_DATA_DIR);
  }
  dirs.emplace_back(RECBLOCKS_TEST_DATA_CACHE);
  return dirs;
}

// The first <dir>/<name> holding `file`, or nothing.
inline std::optional<fs::path> find(const std::string& name, const std::string& file) {
  for (const fs::path& dir : data_dirs()) {
    if (fs::is_regular_file(dir / name / file)) return dir / name;
  }
  return std::nullopt;
}

// Why <name>/<file> is not at hand: the places looked at, and the failed
// download's reason when data.fetch_ml100k left one.
inline std::string why_missing(const std::string& name, const std::string& file) {
  std::string places;
  for (const fs::path& dir : data_dirs()) {
    places += (places.empty() ? "" : ", ") + (dir / name / file).string();
  }
  std::string why = "test data " + name + "/" + file + " not found (looked in " + places + ")";
  std::ifstream reason(fs::path(RECBLOCKS_TEST_DATA_CACHE) / (name + ".unavailable"));
  if (reason) {
    std::stringstream text;
    text << reason.rdbuf();
    why += ": " + text.str();
  } else if (name == "ml-100k") {
    why += "; the ctest fixture data.fetch_ml100k downloads it into the cache";
  } else {
    why += "; it comes only with the shared data (../shared/data, RECBLOCKS_TEST_DATA_DIR)";
  }
  return why;
}

}  // namespace recblocks::testing_data

// Declares `const fs::path var` = the folder of data set `name` holding
// `file`, or skips the test (GTEST_SKIP returns from the current function).
#define RB_REQUIRE_TEST_DATA(var, name, file)                                           \
  const auto var##_found = ::recblocks::testing_data::find(name, file);                 \
  if (!var##_found) GTEST_SKIP() << ::recblocks::testing_data::why_missing(name, file); \
  const ::std::filesystem::path var = *var##_found
