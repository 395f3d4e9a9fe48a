#include "recblocks/io/paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "recblocks/core/error.h"

namespace recblocks::io {
namespace fs = std::filesystem;

namespace {

std::string quoted(const fs::path& path) { return quoted_excerpt(path.string()); }

// What a stat() mode is, for a path that is not a regular file.
std::string_view mode_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

bool exists_in(const fs::path& dir, std::string_view name, fs::file_type type) {
  std::error_code ec;
  return fs::status(dir / name, ec).type() == type;
}

// The absolute path with symbolic links and ".." resolved as far as it exists.
fs::path resolved(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) out = fs::absolute(path, ec).lexically_normal();
  // "dir/" and "dir" are the same directory.
  if (!out.has_filename() && out.has_parent_path()) out = out.parent_path();
  return out;
}

// Whether `inner` is `outer` or lies below it.
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

std::string_view written_name(OutputKind kind) {
  switch (kind) {
    case OutputKind::kModel: return "a model directory";
    case OutputKind::kCheckpoint: return "a checkpoint directory";
    case OutputKind::kDataset: return "a dataset directory";
    case OutputKind::kFolder: return "its output directories";
    case OutputKind::kFile: return "a file";
  }
  return "";
}

// Whether writing `kind` at a path holding `existing` keeps to what the user
// made it for: the same kind is replaced, as a re-run of the command would.
bool same_kind(PathKind existing, OutputKind kind) {
  switch (kind) {
    case OutputKind::kModel: return existing == PathKind::kModel;
    case OutputKind::kCheckpoint: return existing == PathKind::kCheckpoint;
    case OutputKind::kDataset: return existing == PathKind::kDataset;
    case OutputKind::kFolder:
      return existing == PathKind::kDatasetFolder || existing == PathKind::kOtherDirectory;
    case OutputKind::kFile: return false;
  }
  return false;
}

}  // namespace

void check_input_file(const fs::path& path) {
  struct stat st {};
  // stat, not open: opening a FIFO blocks until a writer comes.
  if (::stat(path.c_str(), &st) != 0) return;  // missing: the reader's open() names it
  RB_CHECK(S_ISREG(st.st_mode), ValueError, "{}: is {}, expected a regular file", quoted(path),
           mode_name(st.st_mode));
}

PathKind path_kind(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT || errno == ENOTDIR ? PathKind::kMissing : PathKind::kSpecialFile;
  }
  if (S_ISREG(st.st_mode)) return PathKind::kRegularFile;
  if (!S_ISDIR(st.st_mode)) return PathKind::kSpecialFile;
  std::error_code ec;
  if (fs::is_empty(path, ec) && !ec) return PathKind::kEmptyDirectory;
  if (exists_in(path, "model.json", fs::file_type::regular)) {
    return exists_in(path, "trainer.json", fs::file_type::regular) ? PathKind::kCheckpoint
                                                                   : PathKind::kModel;
  }
  if (exists_in(path, "schema.json", fs::file_type::regular)) return PathKind::kDataset;
  for (const char* split : {"train", "valid"}) {
    if (exists_in(path / split, "schema.json", fs::file_type::regular)) {
      return PathKind::kDatasetFolder;
    }
  }
  if (exists_in(path, "etl", fs::file_type::directory)) return PathKind::kDatasetFolder;
  return PathKind::kOtherDirectory;
}

std::string_view path_kind_name(PathKind kind) {
  switch (kind) {
    case PathKind::kMissing: return "missing";
    case PathKind::kRegularFile: return "an existing regular file";
    case PathKind::kSpecialFile: return "a special file (FIFO, socket or device)";
    case PathKind::kEmptyDirectory: return "an empty directory";
    case PathKind::kModel: return "a model directory";
    case PathKind::kCheckpoint: return "a checkpoint directory";
    case PathKind::kDataset: return "a dataset directory";
    case PathKind::kDatasetFolder: return "a data folder (train/, valid/, etl/)";
    case PathKind::kOtherDirectory: return "a directory of other files";
  }
  return "";
}

void check_output(const OutputPath& out, const std::vector<InputPath>& inputs, bool overwrite) {
  RB_CHECK(!out.path.empty(), ValueError, "{}: the output path is empty", out.flag);
  const fs::path target = resolved(out.path);
  for (const InputPath& input : inputs) {
    if (input.path.empty()) continue;
    const fs::path source = resolved(input.path);
    std::error_code ec;
    // An importer writes its entries into a folder that may also hold its raw input files.
    const bool folder_input = out.kind == OutputKind::kFolder && fs::is_directory(input.path, ec);
    RB_CHECK(source != target || folder_input, ValueError,
             "{} {}: is also this command's {}, which it reads; write the output elsewhere "
             "(--overwrite never replaces an input)",
             out.flag, quoted(out.path), input.flag);
    std::vector<fs::path> written;
    if (out.kind == OutputKind::kFolder && !out.entries.empty()) {
      for (const std::string& entry : out.entries) written.push_back(resolved(out.path / entry));
    } else {
      written.push_back(target);
    }
    for (const fs::path& w : written) {
      RB_CHECK(!is_within(source, w), ValueError,
               "{} {}: {} holds this command's {} {}, which writing there would destroy; write "
               "the output elsewhere (--overwrite never replaces an input)",
               out.flag, quoted(out.path), w == target ? "the directory" : quoted(w), input.flag,
               quoted(input.path));
    }
  }
  struct stat st {};
  if (::stat(out.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    throw ValueError(fmt::format("{} {}: is {}, not a path recblocks can write {} to", out.flag,
                                 quoted(out.path), mode_name(st.st_mode), written_name(out.kind)));
  }
  const PathKind existing = path_kind(out.path);
  if (out.kind == OutputKind::kFile) {
    if (existing == PathKind::kMissing) return;
    RB_CHECK(existing == PathKind::kRegularFile, ValueError,
             "{} {}: is {}; give the path of the file to write", out.flag, quoted(out.path),
             path_kind_name(existing));
    RB_CHECK(overwrite, ValueError,
             "{} {}: is an existing regular file; writing there would replace it. Give another "
             "path, or --overwrite to replace it",
             out.flag, quoted(out.path));
    return;  // the writer replaces the file in one rename
  }
  if (existing == PathKind::kMissing || existing == PathKind::kEmptyDirectory ||
      same_kind(existing, out.kind)) {
    return;
  }
  if (!overwrite) {
    throw ValueError(fmt::format(
        "{} {}: is {}; writing {} there would {} it. Give another path, or --overwrite to "
        "replace it",
        out.flag, quoted(out.path), path_kind_name(existing), written_name(out.kind),
        out.kind == OutputKind::kFolder && existing != PathKind::kRegularFile ? "mix into"
                                                                              : "replace"));
  }
  if (existing == PathKind::kRegularFile) {
    std::error_code ec;
    fs::remove(out.path, ec);
    RB_CHECK(!ec, Error, "{} {}: cannot remove the file to replace it: {}", out.flag,
             quoted(out.path), ec.message());
  }
}

}  // namespace recblocks::io
