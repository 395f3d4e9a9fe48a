// The files of a Parquet dataset: a file, a directory's part files or a glob
// (data/parquet.h).
#include <fmt/format.h>
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "data/parquet_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/data/parquet.h"

namespace recblocks::datasets {
namespace fs = std::filesystem;

namespace parquet_detail {

bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    if (da && db) {
      // Compare the digit runs as numbers: without leading zeros, the
      // shorter run is smaller; runs of equal length compare as text.
      const std::size_t ia = i, jb = j;
      while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) ++i;
      while (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) ++j;
      std::string_view ra = a.substr(ia, i - ia), rb = b.substr(jb, j - jb);
      ra.remove_prefix(std::min(ra.find_first_not_of('0'), ra.size()));
      rb.remove_prefix(std::min(rb.find_first_not_of('0'), rb.size()));
      if (ra.size() != rb.size()) return ra.size() < rb.size();
      if (ra != rb) return ra < rb;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  if (a.size() - i != b.size() - j) return a.size() - i < b.size() - j;
  return a < b;  // "part_01" and "part_1": any fixed order
}

bool is_hidden_name(std::string_view name) {
  return !name.empty() && (name.front() == '.' || name.front() == '_');
}

}  // namespace parquet_detail

namespace {

using parquet_detail::is_hidden_name;

void sort_naturally(std::vector<fs::path>& files) {
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return parquet_detail::natural_less(a.string(), b.string());
  });
}

std::vector<fs::path> directory_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  RB_CHECK(!ec, Error, "{}: cannot list the directory: {}", dir.string(), ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    RB_CHECK(!ec, Error, "{}: cannot list the directory: {}", dir.string(), ec.message());
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (is_hidden_name(name) || p.extension() != ".parquet") continue;
    // Subdirectories (Hive partitions, "x.parquet/" folders) are not read;
    // every other entry is, so that a FIFO or a device is refused by name.
    std::error_code type_ec;
    if (fs::is_directory(p, type_ec)) continue;
    files.push_back(p);
  }
  RB_CHECK(!files.empty(), Error,
           "{}: no *.parquet files in the directory (a Parquet dataset directory holds part files "
           "such as part_0.parquet; subdirectories are not read)",
           dir.string());
  sort_naturally(files);
  return files;
}

std::vector<fs::path> glob_files(const std::string& pattern) {
  glob_t matches{};
  const int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &matches);
  std::unique_ptr<glob_t, void (*)(glob_t*)> owner(&matches, ::globfree);
  RB_CHECK(rc != GLOB_NOSPACE, Error, "{}: out of memory listing the files of the pattern",
           quoted_excerpt(pattern));
  RB_CHECK(rc == 0 && matches.gl_pathc > 0, Error,
           "{}: no such file or directory, and no file matches it as a pattern",
           quoted_excerpt(pattern));
  std::vector<fs::path> files;
  for (std::size_t i = 0; i < matches.gl_pathc; ++i) {
    const fs::path p(matches.gl_pathv[i]);
    if (!is_hidden_name(p.filename().string())) files.push_back(p);
  }
  RB_CHECK(!files.empty(), Error,
           "{}: the pattern matches only hidden files (names starting with '.' or '_', such as "
           "_metadata), which are not read",
           quoted_excerpt(pattern));
  sort_naturally(files);
  return files;
}

}  // namespace

std::vector<fs::path> parquet_files(const std::string& input) {
  RB_CHECK(!input.empty(), ValueError, "Parquet input: an empty path");
  std::error_code ec;
  const fs::file_status status = fs::status(input, ec);
  if (fs::is_directory(status)) return directory_files(input);
  if (fs::exists(status)) return {fs::path(input)};
  if (input.find_first_of("*?[") != std::string::npos) return glob_files(input);
  throw Error(fmt::format("{}: no such file or directory", input));
}

}  // namespace recblocks::datasets
