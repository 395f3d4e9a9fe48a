// Checks of the paths a program reads and writes, before anything is opened
// or replaced:
//
//   io::check_input_file("train/userId.npy");     // before open(): refuses a FIFO
//   io::check_output({.flag = "--out", .path = out, .kind = io::OutputKind::kModel},
//                    {{"--data", data}}, overwrite);
//
// Reading: opening a FIFO blocks until someone writes to it, a device
// yields endless bytes, a directory fails in confusing ways; every reader
// stats the path first and refuses what is not a regular file, naming the
// path and what it is.
//
// Writing: a model, a checkpoint or a dataset is written by replacing the
// whole target directory (io::StagedDirectory), so an --out that is a
// user's file, one of the command's own inputs, or a directory of another
// kind would be destroyed. check_output refuses those, naming the flag, the
// path and what is there; `overwrite` (the CLI's --overwrite) allows
// replacing a file or a directory of another kind, never an input.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace recblocks::io {

// Throws ValueError when `path` exists (after following symbolic links) and
// is not a regular file: "<path>: is a FIFO (named pipe), expected a regular
// file". A missing path is left to the reader's own open(), which names it.
void check_input_file(const std::filesystem::path& path);

// What an existing path holds, as check_output sees it.
enum class PathKind : std::uint8_t {
  kMissing,
  kRegularFile,
  kSpecialFile,  // FIFO, socket, device
  kEmptyDirectory,
  kModel,           // model.json without trainer.json (Model::save)
  kCheckpoint,      // model.json and trainer.json (Model::save_checkpoint)
  kDataset,         // schema.json (Dataset::save)
  kDatasetFolder,   // train/ or valid/ dataset directories, or etl/ (the importers' output)
  kOtherDirectory,  // a non-empty directory of none of these kinds
};
PathKind path_kind(const std::filesystem::path& path);
// "a regular file", "a model directory", ... for messages.
std::string_view path_kind_name(PathKind kind);

// What a command writes at an output path.
enum class OutputKind : std::uint8_t {
  kModel,       // replaces the directory whole (Model::save)
  kCheckpoint,  // replaces the directory whole (Model::save_checkpoint)
  kDataset,     // replaces the directory whole (Dataset::save)
  kFolder,      // writes entries into the directory (train/, valid/, etl/, raw files),
                // keeping what else is there
  kFile,        // one file, replaced atomically (a schema file)
};

struct OutputPath {
  std::string flag;  // "--out", for the message
  std::filesystem::path path;
  OutputKind kind = OutputKind::kModel;
  // kFolder: the entries written below path ("train", "valid", "etl",
  // "ml-100k/train", "ratings.dat"); what else is there is kept, so only an
  // input inside one of them is in the way. Empty: the whole directory.
  std::vector<std::string> entries = {};
};

struct InputPath {
  std::string flag;  // "--data"
  std::filesystem::path path;
};

// Throws ValueError unless `out` can be written without destroying anything
// the user did not ask to replace:
//   - never when out is one of `inputs`, or a directory holding one (for
//     kFolder: when one of its entries is or holds one; an input directory
//     the command writes into is fine), after resolving symbolic links and
//     "..";
//   - never when out is a FIFO, socket or device;
//   - without `overwrite`, not when out is a regular file, or a directory
//     other than an empty one or one of the kind written (a model directory
//     for kModel, ...; for kFolder any directory that is not a model,
//     checkpoint or dataset directory);
//   - for kFile, never when out is a directory, and without `overwrite` not
//     when it is a regular file.
// With `overwrite` a regular file at out is removed here, so that the
// command can create its directory (kFile keeps it: the writer replaces it
// in one rename).
void check_output(const OutputPath& out, const std::vector<InputPath>& inputs, bool overwrite);

}  // namespace recblocks::io
