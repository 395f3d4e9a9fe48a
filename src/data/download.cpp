#include "recblocks/data/download.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "recblocks/core/error.h"
#include "recblocks/io/paths.h"

namespace recblocks::datasets {

namespace {

// curl_global_init is not thread-safe: run it once.
void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u])
                : fmt::format("{:.1f} {}", bytes, units[u]);
}

struct Transfer {
  std::FILE* file = nullptr;
  std::string url;
  bool progress = true;
  bool tty = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_report = start;
  bool write_failed = false;

  std::string line(curl_off_t total, curl_off_t now) const {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = seconds > 0 ? static_cast<double>(now) / seconds : 0;
    std::string s = fmt::format("download {}: {}", url, human_bytes(static_cast<double>(now)));
    if (total > 0) {
      s += fmt::format(" of {} ({:.0f}%)", human_bytes(static_cast<double>(total)),
                       100.0 * static_cast<double>(now) / static_cast<double>(total));
    }
    return s + fmt::format(", {}/s", human_bytes(rate));
  }
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (std::fwrite(data, 1, n, t->file) != n) {
    t->write_failed = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  return n;
}

int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->progress) return 0;
  const auto clock = std::chrono::steady_clock::now();
  // A terminal gets a line rewritten 10 times a second, a log a line every 5 s.
  const auto every = t->tty ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (clock - t->last_report < every) return 0;
  t->last_report = clock;
  const std::string line = t->line(total, now);
  if (t->tty) {
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  return 0;
}

using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

}  // namespace

void download_file(std::string_view url, const std::filesystem::path& path,
                   DownloadOptions options) {
  init_curl();
  CurlHandle curl(curl_easy_init(), &curl_easy_cleanup);
  RB_CHECK(curl != nullptr, Error, "download {}: curl_easy_init failed", url);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  const std::filesystem::path part = path.string() + ".part";

  Transfer t;
  t.url = std::string(url);
  t.progress = options.progress;
  t.tty = isatty(fileno(stderr)) != 0;
  t.file = std::fopen(part.c_str(), "wb");
  RB_CHECK(t.file != nullptr, Error, "download {}: cannot write {}", url, part.string());

  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes_per_s);
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, options.low_speed_time_s);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, report_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "recblocks");
  const CURLcode code = curl_easy_perform(curl.get());
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  curl_off_t bytes = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_SIZE_DOWNLOAD_T, &bytes);
  const bool closed = std::fclose(t.file) == 0;

  if (code != CURLE_OK || !closed || t.write_failed) {
    std::error_code ignored;
    std::filesystem::remove(part, ignored);
    if (t.progress && t.tty) std::fputs("\n", stderr);
    std::string reason = error[0] != 0 ? error : curl_easy_strerror(code);
    if (status >= 400) reason += fmt::format(" (HTTP {})", status);
    if (t.write_failed || !closed) reason = fmt::format("writing {} failed", part.string());
    throw Error(fmt::format("download {}: {}", url, reason));
  }
  if (t.progress) {
    const std::string line = t.line(bytes, bytes);
    std::fprintf(stderr, t.tty ? "\r%s\033[K\n" : "%s\n", line.c_str());
  }
  std::filesystem::rename(part, path);
}

namespace {

using ArchiveHandle = std::unique_ptr<archive, decltype(&archive_read_free)>;

std::string archive_message(archive* a) {
  const char* m = archive_error_string(a);
  return m != nullptr ? m : "unknown libarchive error";
}

}  // namespace

std::vector<std::filesystem::path> unpack_zip(const std::filesystem::path& zip,
                                              const std::filesystem::path& dir,
                                              const std::vector<std::string>& wanted) {
  io::check_input_file(zip);
  RB_CHECK(std::filesystem::is_regular_file(zip), Error, "unpack {}: no such file", zip.string());
  ArchiveHandle a(archive_read_new(), &archive_read_free);
  archive_read_support_format_zip(a.get());
  RB_CHECK(archive_read_open_filename(a.get(), zip.c_str(), 1 << 16) == ARCHIVE_OK, Error,
           "unpack {}: not a readable zip: {}", zip.string(), archive_message(a.get()));
  std::filesystem::create_directories(dir);

  std::vector<std::filesystem::path> written;
  archive_entry* entry = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    RB_CHECK(r == ARCHIVE_OK || r == ARCHIVE_WARN, Error, "unpack {}: corrupt zip: {}",
             zip.string(), archive_message(a.get()));
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string name =
        std::filesystem::path(archive_entry_pathname(entry)).filename().string();
    if (name.empty() || name[0] == '.') continue;  // no hidden files (macOS "._x")
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;

    const std::filesystem::path target = dir / name;
    const std::filesystem::path part = target.string() + ".part";
    std::FILE* out = std::fopen(part.c_str(), "wb");
    RB_CHECK(out != nullptr, Error, "unpack {}: cannot write {}", zip.string(), part.string());
    char buffer[1 << 16];
    bool ok = true;
    std::string reason;
    while (true) {
      const la_ssize_t n = archive_read_data(a.get(), buffer, sizeof buffer);
      if (n == 0) break;
      if (n < 0) {
        ok = false;
        reason = fmt::format("corrupt entry '{}': {}", archive_entry_pathname(entry),
                             archive_message(a.get()));
        break;
      }
      if (std::fwrite(buffer, 1, static_cast<std::size_t>(n), out) != static_cast<std::size_t>(n)) {
        ok = false;
        reason = fmt::format("writing {} failed", part.string());
        break;
      }
    }
    if (std::fclose(out) != 0 && ok) {
      ok = false;
      reason = fmt::format("writing {} failed", part.string());
    }
    if (!ok) {
      std::error_code ignored;
      std::filesystem::remove(part, ignored);
      throw Error(fmt::format("unpack {}: {}", zip.string(), reason));
    }
    std::filesystem::rename(part, target);
    written.push_back(target);
  }
  return written;
}

std::string movielens_url(std::string_view variant) {
  const char* base = std::getenv("RECBLOCKS_MOVIELENS_URL");
  std::string url = base != nullptr && base[0] != 0
                        ? std::string(base)
                        : std::string("https://files.grouplens.org/datasets/movielens");
  if (!url.ends_with('/')) url += '/';
  return url + std::string(variant) + ".zip";
}

}  // namespace recblocks::datasets
