#include "recblocks/io/paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <string>
#include <vector>

#include "io/test_files.h"
#include "recblocks/core/error.h"

namespace recblocks::io {
namespace {

namespace fs = std::filesystem;
using ::recblocks::testing::read_bytes;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CheckInputFile, AcceptsARegularFileAndLeavesAMissingOneToTheReader) {
  TempDir dir;
  write_bytes(dir / "a.npy", "x");
  EXPECT_NO_THROW(check_input_file(dir / "a.npy"));
  EXPECT_NO_THROW(check_input_file(dir / "missing.npy"));
  fs::create_symlink(dir / "a.npy", dir / "link.npy");
  EXPECT_NO_THROW(check_input_file(dir / "link.npy"));
}

TEST(CheckInputFile, RefusesAFifoADirectoryAndADeviceNamingThem) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe.csv").c_str(), 0600), 0);
  // Returns at once: the check stats, it never opens the FIFO.
  EXPECT_THAT(error_of([&] { check_input_file(dir / "pipe.csv"); }),
              AllOf(HasSubstr("pipe.csv"), HasSubstr("a FIFO (named pipe)"),
                    HasSubstr("expected a regular file")));
  fs::create_directory(dir / "col.npy");
  EXPECT_THAT(error_of([&] { check_input_file(dir / "col.npy"); }),
              AllOf(HasSubstr("col.npy"), HasSubstr("is a directory")));
  EXPECT_THAT(error_of([] { check_input_file("/dev/null"); }),
              AllOf(HasSubstr("/dev/null"), HasSubstr("a character device")));
}

TEST(PathKind, TellsTheKindsOfDirectoryApart) {
  TempDir dir;
  EXPECT_EQ(path_kind(dir / "none"), PathKind::kMissing);
  write_bytes(dir / "file", "x");
  EXPECT_EQ(path_kind(dir / "file"), PathKind::kRegularFile);
  EXPECT_EQ(path_kind(dir / "file" / "below"), PathKind::kMissing);
  fs::create_directories(dir / "empty");
  EXPECT_EQ(path_kind(dir / "empty"), PathKind::kEmptyDirectory);
  fs::create_directories(dir / "model");
  write_bytes(dir / "model" / "model.json", "{}");
  EXPECT_EQ(path_kind(dir / "model"), PathKind::kModel);
  fs::create_directories(dir / "ckpt");
  write_bytes(dir / "ckpt" / "model.json", "{}");
  write_bytes(dir / "ckpt" / "trainer.json", "{}");
  EXPECT_EQ(path_kind(dir / "ckpt"), PathKind::kCheckpoint);
  fs::create_directories(dir / "data" / "train");
  write_bytes(dir / "data" / "train" / "schema.json", "{}");
  EXPECT_EQ(path_kind(dir / "data"), PathKind::kDatasetFolder);
  EXPECT_EQ(path_kind(dir / "data" / "train"), PathKind::kDataset);
  fs::create_directories(dir / "docs");
  write_bytes(dir / "docs" / "thesis.tex", "x");
  EXPECT_EQ(path_kind(dir / "docs"), PathKind::kOtherDirectory);
  EXPECT_EQ(path_kind("/dev/null"), PathKind::kSpecialFile);
}

TEST(CheckOutput, AllowsANewPathAnEmptyDirectoryAndTheSameKind) {
  TempDir dir;
  EXPECT_NO_THROW(check_output({"--out", dir / "new", OutputKind::kModel}, {}, false));
  fs::create_directories(dir / "empty");
  EXPECT_NO_THROW(check_output({"--out", dir / "empty", OutputKind::kDataset}, {}, false));
  fs::create_directories(dir / "model");
  write_bytes(dir / "model" / "model.json", "{}");
  EXPECT_NO_THROW(check_output({"--out", dir / "model", OutputKind::kModel}, {}, false));
  // A folder the importers write into may hold other files.
  fs::create_directories(dir / "docs");
  write_bytes(dir / "docs" / "notes.txt", "x");
  EXPECT_NO_THROW(check_output({"--out", dir / "docs", OutputKind::kFolder}, {}, false));
}

TEST(CheckOutput, RefusesAFileOrAnotherKindUnlessOverwrite) {
  TempDir dir;
  write_bytes(dir / "notes.txt", "keep me");
  const OutputPath file{"--out", dir / "notes.txt", OutputKind::kModel};
  EXPECT_THAT(error_of([&] { check_output(file, {}, false); }),
              AllOf(HasSubstr("--out"), HasSubstr("notes.txt"),
                    HasSubstr("an existing regular file"), HasSubstr("--overwrite")));
  EXPECT_EQ(read_bytes(dir / "notes.txt"), "keep me");
  EXPECT_NO_THROW(check_output(file, {}, true));
  EXPECT_FALSE(fs::exists(dir / "notes.txt"));

  fs::create_directories(dir / "ds");
  write_bytes(dir / "ds" / "schema.json", "{}");
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "ds", OutputKind::kModel}, {}, false);
              }),
              AllOf(HasSubstr("a dataset directory"), HasSubstr("a model directory")));
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "ds", OutputKind::kFolder}, {}, false);
              }),
              HasSubstr("a dataset directory"));
  EXPECT_NO_THROW(check_output({"--out", dir / "ds", OutputKind::kModel}, {}, true));
  EXPECT_TRUE(fs::exists(dir / "ds" / "schema.json"));  // the directory is the writer's to swap

  fs::create_directories(dir / "home");
  write_bytes(dir / "home" / "thesis.tex", "x");
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "home", OutputKind::kModel}, {}, false);
              }),
              HasSubstr("a directory of other files"));
}

TEST(CheckOutput, NeverAnInputOrADirectoryHoldingOneEvenWithOverwrite) {
  TempDir dir;
  fs::create_directories(dir / "data" / "train");
  write_bytes(dir / "data" / "train" / "schema.json", "{}");
  const std::vector<InputPath> inputs = {{"--train", dir / "data" / "train"}};
  for (const bool overwrite : {false, true}) {
    EXPECT_THAT(
        error_of([&] {
          check_output({"--out", dir / "data" / "train", OutputKind::kDataset}, inputs, overwrite);
        }),
        AllOf(HasSubstr("is also this command's --train"),
              HasSubstr("--overwrite never replaces an input")));
    EXPECT_THAT(error_of([&] {
                  check_output({"--out", dir / "data", OutputKind::kModel}, inputs, overwrite);
                }),
                AllOf(HasSubstr("holds this command's --train"), HasSubstr("train")));
  }
  // Spelled differently: a trailing slash, "..", a symbolic link.
  EXPECT_THAT(
      error_of([&] {
        check_output({"--out", dir / "data" / "train" / "", OutputKind::kModel}, inputs, true);
      }),
      HasSubstr("is also this command's --train"));
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "data" / "x" / ".." / "train", OutputKind::kModel},
                             inputs, true);
              }),
              HasSubstr("is also this command's --train"));
  fs::create_directory_symlink(dir / "data", dir / "alias");
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "alias", OutputKind::kModel}, inputs, true);
              }),
              HasSubstr("holds this command's --train"));
  // A sibling whose name starts like the input is no input.
  EXPECT_NO_THROW(
      check_output({"--out", dir / "data" / "train2", OutputKind::kModel}, inputs, false));
  EXPECT_TRUE(fs::exists(dir / "data" / "train" / "schema.json"));
}

TEST(CheckOutput, AFolderOutputOnlyMindsTheEntriesItWrites) {
  TempDir dir;
  fs::create_directories(dir / "raw" / "ml-100k");
  write_bytes(dir / "raw" / "ml-100k" / "u.data", "1\t2\t3\t4\n");
  write_bytes(dir / "raw" / "events.csv", "a\n");
  const OutputPath out{"--out", dir / "raw", OutputKind::kFolder, {"train", "valid", "etl"}};
  // Raw files beside the outputs, even the folder itself as a source.
  EXPECT_NO_THROW(check_output(out, {{"--input", dir / "raw" / "events.csv"}}, false));
  EXPECT_NO_THROW(check_output(out, {{"--source", dir / "raw"}}, false));
  fs::create_directories(dir / "raw" / "etl");
  write_bytes(dir / "raw" / "etl" / "old.csv", "a\n");
  EXPECT_THAT(error_of([&] {
                check_output(out, {{"--input", dir / "raw" / "etl" / "old.csv"}}, true);
              }),
              AllOf(HasSubstr("etl"), HasSubstr("holds this command's --input")));
  // A file given as both input and output is refused even for a folder.
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "raw" / "events.csv", OutputKind::kFolder, {"train"}},
                             {{"--input", dir / "raw" / "events.csv"}}, true);
              }),
              HasSubstr("is also this command's --input"));
  EXPECT_TRUE(fs::exists(dir / "raw" / "events.csv"));
}

TEST(CheckOutput, RefusesASpecialFileAlways) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "pipe").c_str(), 0600), 0);
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "pipe", OutputKind::kModel}, {}, true);
              }),
              AllOf(HasSubstr("pipe"), HasSubstr("a FIFO (named pipe)")));
}

TEST(CheckOutput, AFileOutputNeverReplacesADirectoryAndAFileOnlyWithOverwrite) {
  TempDir dir;
  const OutputPath file{"--out", dir / "schema.pbtxt", OutputKind::kFile};
  EXPECT_NO_THROW(check_output(file, {}, false));
  write_bytes(dir / "schema.pbtxt", "x");
  EXPECT_THAT(error_of([&] { check_output(file, {}, false); }),
              AllOf(HasSubstr("--out"), HasSubstr("schema.pbtxt"),
                    HasSubstr("is an existing regular file"), HasSubstr("--overwrite")));
  EXPECT_NO_THROW(check_output(file, {}, true));
  EXPECT_TRUE(fs::exists(dir / "schema.pbtxt"));  // the writer replaces it, not the check
  fs::create_directories(dir / "empty");
  EXPECT_THAT(error_of([&] {
                check_output({"--out", dir / "empty", OutputKind::kFile}, {}, true);
              }),
              AllOf(HasSubstr("is an empty directory"), HasSubstr("the path of the file")));
  EXPECT_THAT(error_of([&] {
                check_output(file, {{"--input", dir / "schema.pbtxt"}}, true);
              }),
              HasSubstr("is also this command's --input"));
}

}  // namespace
}  // namespace recblocks::io
