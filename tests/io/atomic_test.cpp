#include "recblocks/io/atomic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/test_files.h"
#include "recblocks/data/dataset.h"

namespace recblocks::io {
namespace {

namespace fs = std::filesystem;
using ::recblocks::testing::read_bytes;
using ::recblocks::testing::TempDir;
using ::recblocks::testing::write_bytes;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.insert(entry.path().filename().string());
  return names;
}

TEST(WriteFileAtomic, WritesAndReplacesLeavingNoTemporary) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_file_atomic(path, "first");
  EXPECT_EQ(read_bytes(path), "first");
  write_file_atomic(path, "second, longer");
  EXPECT_EQ(read_bytes(path), "second, longer");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"config.json"});
}

TEST(WriteFileAtomic, MissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const auto path = dir / "no" / "such" / "file.json";
  try {
    write_file_atomic(path, "x");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

TEST(StagedDirectory, StagesBesideTheTargetUnderAHiddenNameAndCommitCreatesIt) {
  TempDir dir;
  const auto target = dir / "dataset";
  {
    StagedDirectory staged(target);
    EXPECT_EQ(staged.target(), target);
    EXPECT_EQ(staged.path().parent_path(), dir.path());
    EXPECT_THAT(staged.path().filename().string(),
                StartsWith(fmt::format(".dataset.tmp-{}-", ::getpid())));
    EXPECT_TRUE(fs::is_directory(staged.path()));
    EXPECT_FALSE(fs::exists(target));
    write_bytes(staged.path() / "a.txt", "A");
    staged.commit();
    EXPECT_FALSE(fs::exists(staged.path()));
  }
  EXPECT_EQ(read_bytes(target / "a.txt"), "A");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"dataset"});
}

TEST(StagedDirectory, CommitReplacesAnExistingTargetWhole) {
  TempDir dir;
  const auto target = dir / "out";
  {
    StagedDirectory first(target);
    write_bytes(first.path() / "old_only.txt", "old");
    write_bytes(first.path() / "shared.txt", "v1");
    first.commit();
  }
  {
    StagedDirectory second(target);
    write_bytes(second.path() / "shared.txt", "v2");
    fs::create_directory(second.path() / "sub");
    write_bytes(second.path() / "sub" / "nested.txt", "n");
    second.commit();
  }
  EXPECT_EQ(names_in(target), (std::set<std::string>{"shared.txt", "sub"}));
  EXPECT_EQ(read_bytes(target / "shared.txt"), "v2");
  EXPECT_EQ(read_bytes(target / "sub" / "nested.txt"), "n");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"out"});
}

TEST(StagedDirectory, UncommittedLeavesThePreviousTargetIntactAndNoStaging) {
  TempDir dir;
  const auto target = dir / "out";
  fs::create_directory(target);
  write_bytes(target / "keep.txt", "previous");
  {
    StagedDirectory staged(target);
    write_bytes(staged.path() / "keep.txt", "half-written");
    write_bytes(staged.path() / "extra.txt", "x");
  }  // destroyed without commit, as when an exception leaves a save
  EXPECT_EQ(names_in(target), std::set<std::string>{"keep.txt"});
  EXPECT_EQ(read_bytes(target / "keep.txt"), "previous");
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"out"});
}

TEST(StagedDirectory, TrailingSlashAndMissingParentsAreHandled) {
  TempDir dir;
  const fs::path target = dir.path() / "a" / "b" / "c/";
  StagedDirectory staged(target);
  EXPECT_EQ(staged.target(), dir.path() / "a" / "b" / "c");
  staged.commit();
  EXPECT_TRUE(fs::is_directory(dir.path() / "a" / "b" / "c"));
}

TEST(StagedDirectory, CommittingTwiceIsAnError) {
  TempDir dir;
  StagedDirectory staged(dir / "x");
  staged.commit();
  try {
    staged.commit();
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("already committed"));
    EXPECT_THAT(e.what(), HasSubstr((dir / "x").string()));
  }
}

TEST(StagedDirectory, CarryOverKeepsTheOtherEntriesAsHardLinksAndDropsTheReplacedOnes) {
  TempDir dir;
  const auto target = dir / "import";
  fs::create_directories(target / "train");
  fs::create_directories(target / "raw" / "2024");
  write_bytes(target / "train" / "old.npy", "old");
  write_bytes(target / "valid", "a stale split the new version does not have");
  write_bytes(target / "ratings.csv", "the user's input");
  write_bytes(target / "raw" / "2024" / "day_0.tsv", "raw");
  fs::create_symlink("ratings.csv", target / "latest.csv");
  {
    StagedDirectory staged(target);
    staged.carry_over({"train", "valid"});
    fs::create_directory(staged.path() / "train");
    write_bytes(staged.path() / "train" / "new.npy", "new");
    // Before commit the target is untouched.
    EXPECT_EQ(names_in(target),
              (std::set<std::string>{"latest.csv", "ratings.csv", "raw", "train", "valid"}));
    staged.commit();
  }
  EXPECT_EQ(names_in(target), (std::set<std::string>{"latest.csv", "ratings.csv", "raw", "train"}));
  EXPECT_EQ(names_in(target / "train"), std::set<std::string>{"new.npy"});
  EXPECT_EQ(read_bytes(target / "ratings.csv"), "the user's input");
  EXPECT_EQ(read_bytes(target / "raw" / "2024" / "day_0.tsv"), "raw");
  EXPECT_TRUE(fs::is_symlink(target / "latest.csv"));
  EXPECT_EQ(fs::read_symlink(target / "latest.csv"), "ratings.csv");
  EXPECT_EQ(fs::hard_link_count(target / "ratings.csv"), 1U);  // the old version's link is gone
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"import"});
}

TEST(StagedDirectory, CarryOverUncommittedLeavesTheTargetAsItWas) {
  TempDir dir;
  const auto target = dir / "import";
  fs::create_directories(target);
  write_bytes(target / "ratings.csv", "input");
  {
    StagedDirectory staged(target);
    staged.carry_over({"train"});
    EXPECT_EQ(fs::hard_link_count(target / "ratings.csv"), 2U);
  }  // an import that failed after carrying over
  EXPECT_EQ(names_in(target), std::set<std::string>{"ratings.csv"});
  EXPECT_EQ(read_bytes(target / "ratings.csv"), "input");
  EXPECT_EQ(fs::hard_link_count(target / "ratings.csv"), 1U);
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"import"});
}

TEST(StagedDirectory, CarryOverWithoutATargetDoesNothing) {
  TempDir dir;
  StagedDirectory staged(dir / "new");
  staged.carry_over({"train"});
  EXPECT_TRUE(names_in(staged.path()).empty());
}

TEST(StagedDirectory, ASymbolicLinkToADirectoryIsFollowedAndKept) {
  TempDir dir;
  fs::create_directories(dir / "disk" / "models" / "m1");
  write_bytes(dir / "disk" / "models" / "m1" / "old.txt", "old");
  fs::create_directory_symlink(dir / "disk" / "models" / "m1", dir / "current");
  {
    StagedDirectory staged(dir / "current");
    EXPECT_EQ(staged.target(), fs::canonical(dir / "disk" / "models" / "m1"));
    write_bytes(staged.path() / "new.txt", "new");
    staged.commit();
  }
  EXPECT_TRUE(fs::is_symlink(dir / "current"));
  EXPECT_EQ(names_in(dir / "current"), std::set<std::string>{"new.txt"});
}

TEST(StagedDirectory, RemovesWhatDeadWritersLeftButNotLiveOnes) {
  TempDir dir;
  // The pid of a process that has exited (and been reaped).
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);

  const std::string dead_tmp = fmt::format(".out.tmp-{}-0", child);
  const std::string dead_old = fmt::format(".out.old-{}-3", child);
  const std::string live_tmp = fmt::format(".out.tmp-{}-0", ::getppid());
  const std::string other = fmt::format(".other.tmp-{}-0", child);
  for (const auto& name : {dead_tmp, dead_old, live_tmp, other}) {
    fs::create_directory(dir / name);
    write_bytes(dir / name / "x.npy", "partial");
  }
  StagedDirectory staged(dir / "out");
  const auto names = names_in(dir.path());
  EXPECT_FALSE(names.contains(dead_tmp));
  EXPECT_FALSE(names.contains(dead_old));
  EXPECT_TRUE(names.contains(live_tmp));
  EXPECT_TRUE(names.contains(other));
}

TEST(FsyncPath, MissingPathIsAnErrorNamingIt) {
  TempDir dir;
  fsync_path(dir.path());
  write_bytes(dir / "f", "x");
  fsync_path(dir / "f");
  try {
    fsync_path(dir / "missing");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "missing").string()));
  }
}

// ---- A writer killed in the middle of Dataset::save -----------------------

constexpr std::int64_t kRows = 1'500'000;

// Version v of a dataset: a float column, an int column and a list column
// whose values all encode v, so a mix of two versions is detectable.
Dataset versioned_dataset(int v) {
  Tensor f = Tensor::empty({kRows});
  Tensor i = Tensor::empty({kRows}, DType::kInt32);
  Tensor offsets = Tensor::empty({kRows + 1}, DType::kInt64);
  Tensor values = Tensor::empty({2 * kRows}, DType::kInt32);
  for (std::int64_t r = 0; r < kRows; ++r) {
    f.data<float>()[r] = static_cast<float>(v * 1000 + r % 1000);
    i.data<std::int32_t>()[r] = v;
    offsets.data<std::int64_t>()[r] = 2 * r;
    values.data<std::int32_t>()[2 * r] = v;
    values.data<std::int32_t>()[2 * r + 1] = -v;
  }
  offsets.data<std::int64_t>()[kRows] = 2 * kRows;
  Schema schema({ColumnSchema("f", DType::kFloat32, {Tags::CONTINUOUS}),
                 ColumnSchema("i", DType::kInt32, {Tags::CATEGORICAL}),
                 ColumnSchema("l", DType::kInt32, {Tags::CATEGORICAL}).with_list(true)});
  return Dataset(schema, {{"f", {f, Tensor()}}, {"i", {i, Tensor()}}, {"l", {values, offsets}}});
}

// The version stored in `dir`, checking every value; -1 if it does not load.
int loaded_version(const fs::path& dir) {
  Dataset d;
  try {
    d = Dataset::load(dir);
  } catch (const Error&) {
    return -1;
  }
  EXPECT_EQ(d.num_rows(), kRows);
  const int v = d.column("i").values.data<std::int32_t>()[0];
  for (std::int64_t r = 0; r < kRows; ++r) {
    if (d.column("f").values.data<float>()[r] != static_cast<float>(v * 1000 + r % 1000) ||
        d.column("i").values.data<std::int32_t>()[r] != v ||
        d.column("l").values.data<std::int32_t>()[2 * r + 1] != -v) {
      ADD_FAILURE() << "row " << r << " mixes versions (row 0 is version " << v << ")";
      return -2;
    }
  }
  return v;
}

bool staging_exists(const fs::path& dir, const std::string& prefix, const char* inside) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(prefix) && (inside == nullptr || fs::exists(entry.path() / inside))) {
      return true;
    }
  }
  return false;
}

// Forks a child that saves version `v` into `target`; kills it with SIGKILL
// once `ready()` is true (or after `delay`), then reaps it. Returns true if
// it was killed (false if it had finished first).
template <class Ready>
bool save_and_kill(const Dataset& dataset, const fs::path& target, Ready ready,
                   std::chrono::microseconds delay) {
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      dataset.save(target);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  EXPECT_GT(child, 0);
  const auto start = std::chrono::steady_clock::now();
  while (!ready() && std::chrono::steady_clock::now() - start < delay) {
    int status = 0;
    if (::waitpid(child, &status, WNOHANG) == child) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status);
}

TEST(StagedDirectory, KilledSaveLeavesThePreviousCompleteVersionOrTheNewOne) {
  TempDir dir;
  const auto target = dir / "data";
  const Dataset v1 = versioned_dataset(1);
  const Dataset v2 = versioned_dataset(2);

  // No previous version: a save killed mid-write leaves nothing that loads.
  const bool killed_first = save_and_kill(
      v1, target,
      [&] {
        return staging_exists(dir.path(), ".data.tmp-", "f.npy") || fs::exists(target / "f.npy");
      },
      std::chrono::seconds(20));
  ASSERT_TRUE(killed_first) << "the first save finished before it could be killed";
  EXPECT_EQ(loaded_version(target), -1);
  EXPECT_FALSE(fs::exists(target));

  v1.save(target);
  ASSERT_EQ(loaded_version(target), 1);

  // Killed while the column files are being written, then after
  // schema.json is in the staging directory (just before the swap), then
  // at a range of plain delays.
  int killed_mid_write = 0;
  const char* stages[] = {"f.npy", "l.offsets.npy", "schema.json"};
  for (const char* inside : stages) {
    SCOPED_TRACE(inside);
    const bool killed = save_and_kill(
        v2, target, [&] { return staging_exists(dir.path(), ".data.tmp-", inside); },
        std::chrono::seconds(20));
    const int v = loaded_version(target);
    EXPECT_TRUE(v == 1 || v == 2) << "loaded version " << v;
    if (killed && v == 1) ++killed_mid_write;
    if (v == 2) v1.save(target);  // back to version 1 for the next round
  }
  EXPECT_GE(killed_mid_write, 1);
  for (int delay_ms : {0, 1, 3, 10, 30, 100}) {
    SCOPED_TRACE(delay_ms);
    save_and_kill(
        v2, target, [] { return false; }, std::chrono::milliseconds(delay_ms));
    const int v = loaded_version(target);
    EXPECT_TRUE(v == 1 || v == 2) << "loaded version " << v;
    if (v == 2) v1.save(target);
  }
  // A later save cleans up what the killed writers left.
  v2.save(target);
  EXPECT_EQ(loaded_version(target), 2);
  EXPECT_EQ(names_in(dir.path()), std::set<std::string>{"data"});
}

}  // namespace
}  // namespace recblocks::io
