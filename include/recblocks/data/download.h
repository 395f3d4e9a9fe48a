// Fetching public datasets: a URL to a file (libcurl, http(s):// and
// file://) and a zip unpacked into a directory (libarchive).
//
//   datasets::download_file("https://files.grouplens.org/datasets/movielens/ml-1m.zip",
//                           "data/ml-1m.zip");
//   datasets::unpack_zip("data/ml-1m.zip", "data/ml-1m", {"ratings.dat", "users.dat"});
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace recblocks::datasets {

struct DownloadOptions {
  // Progress on stderr: bytes so far, total when known, rate. On a
  // terminal one line rewritten in place; otherwise a plain line every few
  // seconds and one at the end.
  bool progress = true;
  // Name resolution and connection, in seconds: without a network the
  // download fails after at most this long instead of waiting.
  long connect_timeout_s = 30;
  // A transfer slower than low_speed_bytes_per_s for low_speed_time_s
  // seconds is abandoned (a stalled connection never ends by itself).
  long low_speed_bytes_per_s = 1024;
  long low_speed_time_s = 60;
};

// Downloads `url` to `path` (written to "<path>.part", renamed when
// complete). Throws Error naming the URL and the reason (curl's message,
// the HTTP status).
void download_file(std::string_view url, const std::filesystem::path& path,
                   DownloadOptions options = {});

// Extracts the regular files of `zip` whose base name is in `wanted` (every
// file when `wanted` is empty) into `dir`, flat (the zip's folders are
// dropped). Each file is written to a temporary name and renamed. Returns
// the paths written. Throws Error naming the zip on a corrupt archive.
std::vector<std::filesystem::path> unpack_zip(const std::filesystem::path& zip,
                                              const std::filesystem::path& dir,
                                              const std::vector<std::string>& wanted = {});

// The official URL of a MovieLens variant's zip:
// https://files.grouplens.org/datasets/movielens/<variant>.zip, with the
// base replaced by $RECBLOCKS_MOVIELENS_URL when set (e.g. file:///tmp/zips).
std::string movielens_url(std::string_view variant);

}  // namespace recblocks::datasets
