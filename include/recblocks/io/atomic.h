// Atomic writes: a reader sees the old file or directory, or the complete
// new one, never a half-written one, even if the writer is killed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace recblocks::io {

// Writes `contents` to a temporary file beside `path`, fsyncs it and
// renames it over `path`.
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// Builds a directory under a temporary name beside `target`
// (".<name>.tmp-<pid>-<n>") and moves it into place on commit(). An
// existing target is replaced only at commit, by swapping the two names in
// one step (Linux renameat2 RENAME_EXCHANGE; where the file system lacks it,
// the old target is renamed to ".<name>.old-<pid>-<n>" first), then the
// old version is removed. Destroying an uncommitted StagedDirectory removes
// what was written; the constructor also removes the staging and old
// directories that killed processes (pids that no longer exist) left
// beside `target`. Missing parent directories are created. A `target` that
// is a symbolic link to a directory is followed: the directory it names is
// replaced, the link stays.
class StagedDirectory {
 public:
  explicit StagedDirectory(std::filesystem::path target);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  // Where to write the files.
  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& target() const { return target_; }
  // For a folder the new version shares with other files (an importer's
  // --out holding its raw input beside train/, valid/ and etl/): puts every
  // entry of the existing target except those named in `replaced` into the
  // staging directory, so that commit() keeps them. Regular files become
  // hard links (copies where the file system has none), directories are
  // made again entry by entry, symbolic links are copied as links; the
  // target is not changed. Without a target, nothing to do.
  void carry_over(const std::vector<std::string>& replaced);
  // fsyncs the staged files, then renames: the target appears whole.
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

// fsync of a file or a directory; throws Error naming it on failure.
void fsync_path(const std::filesystem::path& path);

}  // namespace recblocks::io
