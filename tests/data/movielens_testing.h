// Helpers shared by the MovieLens, ETL and download tests: a fresh
// temporary directory per test, the real test data (testing/test_data.h), zips built with
// Python's zipfile, running a Python reference script.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "recblocks/core/error.h"
#include "testing/test_data.h"

namespace recblocks::testing_ml {

namespace fs = std::filesystem;

inline fs::path source_dir() { return RECBLOCKS_SOURCE_DIR; }

// A fresh directory named after the running test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Parameterised tests have '/' in their names: keep one path component.
    std::string name =
        fmt::format("rb_{}_{}_{}", info->test_suite_name(), info->name(), ::getpid());
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = fs::temp_directory_path() / name;
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error("cannot write " + path.string());
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The Python with numpy that references run under: $RECBLOCKS_PYTHON, else
// Debian's /usr/bin/python3 (python3-numpy), not whatever python3 is first
// on PATH.
inline std::string python() {
  if (const char* env = std::getenv("RECBLOCKS_PYTHON"); env != nullptr && env[0] != 0) return env;
  return "/usr/bin/python3";
}

// Runs a shell command; returns its exit status.
inline int run_command(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Builds `zip` holding `files`, each under the folder `prefix` (as the
// GroupLens zips do: ml-100k/u.data), with Python's zipfile.
inline void make_zip(const fs::path& zip, const std::vector<fs::path>& files,
                     const std::string& prefix) {
  std::string list;
  for (const auto& f : files) list += fmt::format("'{}',", f.string());
  const std::string script = fmt::format(
      "import zipfile, os\n"
      "with zipfile.ZipFile('{}', 'w', zipfile.ZIP_DEFLATED) as z:\n"
      "    for f in [{}]:\n"
      "        z.write(f, '{}/' + os.path.basename(f))\n",
      zip.string(), list, prefix);
  const fs::path py = zip.string() + ".py";
  write_text(py, script);
  ASSERT_EQ(run_command(fmt::format("{} '{}'", python(), py.string())), 0) << script;
  fs::remove(py);
}

}  // namespace recblocks::testing_ml
