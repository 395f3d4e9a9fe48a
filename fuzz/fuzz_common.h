// Shared by the libFuzzer targets in fuzz/ (scripts/fuzz.sh builds and runs them).
//
// Each target hands the fuzzer's bytes to one of recblocks' real readers,
// through a file as a user would give it. A recblocks::Error (ValueError,
// ShapeError, ...) is the expected answer to a bad input; anything else that
// escapes the reader (std::out_of_range, a JSON exception, std::bad_alloc) is
// a finding: the target prints it and aborts, so libFuzzer saves the input.
// Crashes, sanitizer reports, timeouts and memory blow-ups are reported by
// libFuzzer itself.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "recblocks/core/error.h"
#include "recblocks/core/tensor.h"
#include "recblocks/core/threads.h"

namespace recblocks::fuzz {

// A private scratch directory for this process, in /dev/shm when it exists
// (the readers' files and the importers' outputs cost no disk I/O there);
// removed at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base =
        fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("recblocks-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(d, ec);
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// Splits `bytes` into `n` parts at the separator "\n----\n" (the last part
// takes the rest; missing parts are empty): the targets that read several
// files (a schema and a CSV, MovieLens' tables) take them from one input.
inline std::vector<std::string_view> split_parts(std::string_view bytes, std::size_t n) {
  static constexpr std::string_view kSeparator = "\n----\n";
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    const std::size_t at = bytes.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(bytes.substr(0, at));
    bytes.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(bytes);
  parts.resize(n);
  return parts;
}

// Runs `read`; a recblocks::Error is the expected outcome of a bad input,
// any other exception aborts with its type and message.
template <typename F>
void expect_only_errors(const char* target, F&& read) {
  try {
    read();
  } catch (const recblocks::Error&) {
    // A clear error: what a bad input should give.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\n==fuzz== %s: escaping exception %s: %.400s\n", target, typeid(e).name(),
                 e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "\n==fuzz== %s: escaping exception of an unknown type\n", target);
    std::abort();
  }
}

// One thread: runs are deterministic, and the readers' parallel paths still
// run (as one chunk).
// The sum of a tensor's bytes: reading every byte makes ASan check that a
// tensor that reads is backed by its whole size.
inline unsigned touch(const Tensor& t) {
  const auto* p = static_cast<const unsigned char*>(t.raw());
  unsigned sum = 0;
  for (std::size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  return sum;
}

// Same dtype, shape and bytes.
inline bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.nbytes() == b.nbytes() &&
         (a.nbytes() == 0 || std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
}

inline void initialize() {
  recblocks::set_num_threads(1);
  (void)scratch_dir();
}

}  // namespace recblocks::fuzz
