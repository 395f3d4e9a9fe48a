// Private helpers of the text importers (criteo.cpp, csv.cpp): a read-only
// memory map of a whole file, line-aligned chunks for parallel parsing, and
// whole-field number parsing with std::from_chars (no allocation).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/threads.h"
#include "recblocks/data/etl.h"
#include "recblocks/io/paths.h"

namespace recblocks::text_input {

// The bytes of a file, mapped read-only for the object's lifetime.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) : path_(path) {
    io::check_input_file(path);
    // O_NONBLOCK: opening a FIFO nobody writes to would otherwise block
    // forever; it changes nothing for the regular files read below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    RB_CHECK(fd >= 0, Error, "{}: cannot open: {}", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      const bool is_dir = S_ISDIR(st.st_mode);
      ::close(fd);
      throw Error(fmt::format("{}: {}, expected a regular file", path.string(),
                              is_dir ? "a directory" : "not a regular file (a pipe or a device)"));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      ::close(fd);
      RB_CHECK(p != MAP_FAILED, Error, "{}: cannot map {} bytes: {}", path.string(), size_,
               std::strerror(errno));
      data_ = static_cast<const char*>(p);
      ::madvise(p, size_, MADV_SEQUENTIAL);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view text() const { return {data_ == nullptr ? "" : data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// The line starting at `pos` (without its '\n' and a trailing '\r') and
// the position after it.
inline std::string_view next_line(std::string_view text, std::size_t& pos) {
  const std::size_t begin = pos;
  const void* nl = std::memchr(text.data() + begin, '\n', text.size() - begin);
  const std::size_t end =
      nl == nullptr ? text.size()
                    : static_cast<std::size_t>(static_cast<const char*>(nl) - text.data());
  pos = nl == nullptr ? text.size() : end + 1;
  std::string_view line = text.substr(begin, end - begin);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Splits text into up to n pieces that each start at the beginning of a
// line: returns n + 1 boundaries (some pieces may be empty).
inline std::vector<std::size_t> line_aligned_chunks(std::string_view text, int n) {
  std::vector<std::size_t> bounds(static_cast<std::size_t>(n) + 1, text.size());
  bounds[0] = 0;
  for (int i = 1; i < n; ++i) {
    std::size_t pos = std::max(bounds[i - 1], text.size() / static_cast<std::size_t>(n) * i);
    if (pos > 0 && pos < text.size() && text[pos - 1] != '\n') {
      const void* nl = std::memchr(text.data() + pos, '\n', text.size() - pos);
      pos = nl == nullptr
                ? text.size()
                : static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
    }
    bounds[i] = std::min(pos, text.size());
  }
  return bounds;
}

// Number of lines in text (a last line without '\n' counts).
inline std::int64_t count_lines(std::string_view text) {
  std::int64_t n = std::count(text.begin(), text.end(), '\n');
  if (!text.empty() && text.back() != '\n') ++n;
  return n;
}

// Whole-field parses: false unless every character is consumed.
inline bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

inline bool parse_int64(std::string_view s, std::int64_t& out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// An integer written either as "17" or as "17.0" (the CSV variant of
// Criteo writes its integer features as floats).
inline bool parse_integral(std::string_view s, std::int64_t& out) {
  if (parse_int64(s, out)) return true;
  double d = 0;
  if (!parse_double(s, d) || !(std::abs(d) < 9.2e18) ||
      d != static_cast<double>(static_cast<std::int64_t>(d))) {
    return false;
  }
  out = static_cast<std::int64_t>(d);
  return true;
}

// Writes a file inside an io::StagedDirectory: no fsync of its own, the
// directory's commit syncs the whole tree once.
inline void write_staged_file(const std::filesystem::path& path, std::string_view contents) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  RB_CHECK(f != nullptr, Error, "{}: cannot open for writing: {}", path.string(),
           std::strerror(errno));
  const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  RB_CHECK(std::fclose(f) == 0 && ok, Error, "{}: write failed", path.string());
}

// Runs f(i) for i in [0, n) on the thread pool, one index at a time (n is
// small: columns, chunks); rethrows the failure of the lowest index.
template <class F>
void parallel_for_each(std::size_t n, F&& f) {
  std::vector<std::exception_ptr> failures(n);
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads())
  for (std::size_t i = 0; i < n; ++i) {
    try {
      f(i);
    } catch (...) {
      failures[i] = std::current_exception();
    }
  }
  for (const auto& e : failures) {
    if (e) std::rethrow_exception(e);
  }
}

// A field as shown in an error message; a shorter max_chars where the
// message holds another excerpt.
inline std::string shown(std::string_view field, std::size_t max_chars = 200) {
  return recblocks::quoted_excerpt(field, max_chars);
}

// Skips a UTF-8 byte order mark at the start of a file's text.
inline std::string_view without_bom(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  return text;
}

// <dir>/<column>.json in Categorify::save's format, inside a staged etl/
// directory (Criteo and CSV importers).
inline void save_categorify(const etl::Categorify& c, const std::filesystem::path& dir) {
  std::string text;
  try {
    text = c.to_json().dump(1);
  } catch (const nlohmann::json::type_error& e) {
    throw ValueError(fmt::format("column '{}': cannot save its vocabulary: {} (keys must be UTF-8)",
                                 c.column(), e.what()));
  }
  write_staged_file(dir / (c.column() + ".json"), text);
}

}  // namespace recblocks::text_input
