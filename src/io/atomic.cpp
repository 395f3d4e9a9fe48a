#include "recblocks/io/atomic.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "io/atomic_internal.h"
#include "recblocks/core/error.h"

namespace recblocks::io {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path, int error) {
  throw Error(fmt::format("{}: {}: {}", path.string(), what, std::strerror(error)));
}

// "dir/" names the directory "dir".
fs::path without_trailing_slash(fs::path path) {
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();
  return path;
}

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

void write_all(int fd, std::string_view contents, const fs::path& path) {
  while (!contents.empty()) {
    const ssize_t w = ::write(fd, contents.data(), contents.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write failed", path, errno);
    }
    contents.remove_prefix(static_cast<std::size_t>(w));
  }
}

// fsyncs every file and directory below `root`, then `root` itself, so a
// rename that publishes `root` never publishes data still in the page cache.
void fsync_tree(const fs::path& root) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::file_status status = it->symlink_status();
    if (fs::is_regular_file(status) || fs::is_directory(status)) fsync_path(it->path());
  }
  if (ec)
    throw Error(fmt::format("{}: cannot list the directory: {}", root.string(), ec.message()));
  fsync_path(root);
}

void remove_quietly(const fs::path& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw_errno(fmt::format("cannot rename {} to it", from.string()), to, errno);
  }
}

// Puts `staging` in place of the existing `target`. Linux swaps the two
// names in one step (RENAME_EXCHANGE), so `target` always names a complete
// version; elsewhere the old target is first renamed away.
void replace_existing(const fs::path& staging, const fs::path& target) {
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fsync_path(directory_of(target));
    remove_quietly(staging);  // now holds the old version
    return;
  }
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
    throw_errno(fmt::format("cannot exchange {} with it", staging.string()), target, errno);
  }
  const fs::path old = detail::temporary_sibling(target, "old");
  rename_or_throw(target, old);
  if (std::rename(staging.c_str(), target.c_str()) != 0) {
    const int error = errno;
    std::rename(old.c_str(), target.c_str());
    throw_errno(fmt::format("cannot rename {} to it", staging.string()), target, error);
  }
  fsync_path(directory_of(target));
  remove_quietly(old);
}

// Removes what killed writers left beside `target`: staging and old
// directories (".<name>.tmp-<pid>-<n>", ".<name>.old-<pid>-<n>") whose
// process no longer exists. A live writer's directories are left alone.
void remove_stale_siblings(const fs::path& target) {
  const std::string name = target.filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(directory_of(target), ec)) {
    const std::string file = entry.path().filename().string();
    for (const std::string& prefix : {"." + name + ".tmp-", "." + name + ".old-"}) {
      if (!file.starts_with(prefix)) continue;
      const pid_t pid = static_cast<pid_t>(std::atoll(file.c_str() + prefix.size()));
      if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
        remove_quietly(entry.path());
      }
    }
  }
}

// Makes `to` hold what `from` holds, hard-linking its files (see
// StagedDirectory::carry_over). Throws fs::filesystem_error.
void link_tree(const fs::path& from, const fs::path& to) {
  const fs::file_status status = fs::symlink_status(from);
  if (fs::is_symlink(status)) {
    fs::copy_symlink(from, to);
  } else if (fs::is_directory(status)) {
    fs::create_directory(to, from);
    for (const auto& entry : fs::directory_iterator(from))
      link_tree(entry.path(), to / entry.path().filename());
  } else {
    std::error_code ec;
    fs::create_hard_link(from, to, ec);
    if (!ec) return;
    if (!fs::is_regular_file(status)) throw fs::filesystem_error("cannot link", from, to, ec);
    fs::copy_file(from, to);
  }
}

// `target`, or the directory it names when it is a symbolic link to one.
fs::path followed(const fs::path& target) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(target, ec)) || !fs::is_directory(target, ec)) {
    return target;
  }
  const fs::path real = fs::canonical(target, ec);
  return ec ? target : real;
}

}  // namespace

namespace detail {

fs::path temporary_sibling(const fs::path& target, std::string_view kind) {
  static std::atomic<std::uint64_t> counter{0};
  const fs::path clean = without_trailing_slash(target);
  const std::string name = fmt::format(".{}.{}-{}-{}", clean.filename().string(), kind, ::getpid(),
                                       counter.fetch_add(1));
  return clean.has_parent_path() ? clean.parent_path() / name : fs::path(name);
}

void rename_into_place(const fs::path& from, const fs::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const int error = errno;
    remove_quietly(from);
    throw_errno(fmt::format("cannot rename {} to it", from.string()), to, error);
  }
  fsync_path(directory_of(to));
}

}  // namespace detail

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open for fsync", path, errno);
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    throw_errno("fsync failed", path, error);
  }
  ::close(fd);
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  const fs::path temporary = detail::temporary_sibling(path, "tmp");
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(fmt::format("cannot create {}", temporary.string()), path, errno);
  try {
    write_all(fd, contents, temporary);
    if (::fsync(fd) != 0) throw_errno("fsync failed", temporary, errno);
  } catch (...) {
    ::close(fd);
    remove_quietly(temporary);
    throw;
  }
  if (::close(fd) != 0) {
    const int error = errno;
    remove_quietly(temporary);
    throw_errno("close failed", temporary, error);
  }
  detail::rename_into_place(temporary, path);
}

StagedDirectory::StagedDirectory(fs::path target)
    : target_(followed(without_trailing_slash(std::move(target)))) {
  RB_CHECK(target_.has_filename() && target_.filename() != "." && target_.filename() != "..",
           ValueError, "StagedDirectory: '{}' does not name a directory to write",
           target_.string());
  std::error_code ec;
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path(), ec);
  if (ec) {
    throw Error(fmt::format("{}: cannot create the parent directory: {}",
                            target_.parent_path().string(), ec.message()));
  }
  remove_stale_siblings(target_);
  staging_ = detail::temporary_sibling(target_, "tmp");
  remove_quietly(staging_);  // left by a killed process that had our pid
  if (!fs::create_directory(staging_, ec) || ec) {
    throw Error(fmt::format("{}: cannot create the staging directory {}: {}", target_.string(),
                            staging_.string(), ec ? ec.message() : "it exists"));
  }
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) remove_quietly(staging_);
}

void StagedDirectory::carry_over(const std::vector<std::string>& replaced) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(target_, ec))) return;
  fs::path current;
  try {
    fs::permissions(staging_, fs::status(target_).permissions());
    for (const auto& entry : fs::directory_iterator(target_)) {
      current = entry.path();
      const std::string name = current.filename().string();
      if (std::find(replaced.begin(), replaced.end(), name) != replaced.end()) continue;
      link_tree(current, staging_ / name);
    }
  } catch (const fs::filesystem_error& e) {
    throw Error(fmt::format("{}: cannot keep {} in the new version: {}", target_.string(),
                            current.empty() ? target_.string() : current.string(),
                            e.code().message()));
  }
}

void StagedDirectory::commit() {
  RB_CHECK(!committed_, ValueError, "StagedDirectory {}: already committed", target_.string());
  fsync_tree(staging_);
  std::error_code ec;
  const bool exists = fs::symlink_status(target_, ec).type() != fs::file_type::not_found;
  if (exists) {
    replace_existing(staging_, target_);
  } else {
    rename_or_throw(staging_, target_);
    fsync_path(directory_of(target_));
  }
  committed_ = true;
}

}  // namespace recblocks::io
