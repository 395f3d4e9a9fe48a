// The MovieLens import (movielens.h): the raw files found, unpacked or
// downloaded, read, split, run through the workflow and saved.
#include "recblocks/data/movielens.h"

#include <fmt/format.h>

#include <fstream>

#include "data/movielens_internal.h"
#include "recblocks/core/error.h"
#include "recblocks/data/download.h"
#include "recblocks/data/sequences.h"
#include "recblocks/io/atomic.h"
#include "recblocks/io/paths.h"

namespace recblocks::datasets {

namespace fs = std::filesystem;

etl::Workflow movielens_workflow(std::string_view variant) {
  const bool demographics = movielens_has_demographics(variant);
  etl::Workflow wf;
  wf.categorify({"userId"}, {}, TagSet{Tags::USER_ID})
      .categorify({"movieId"}, {}, TagSet{Tags::ITEM_ID})
      .categorify({"title"})
      .categorify({"genres"}, {}, TagSet{Tags::ITEM});
  if (demographics) wf.categorify({"gender", "age", "occupation", "zipcode"});
  const etl::TargetEncodingOptions te{.kfold = 5, .p_smooth = 20};
  wf.target_encoding({"movieId"}, "rating", te, TagSet{Tags::ITEM});
  if (demographics) {
    wf.target_encoding({"userId", "age", "gender", "occupation", "zipcode"}, "rating", te,
                       TagSet{Tags::USER});
  } else {
    wf.target_encoding({"userId"}, "rating", te, TagSet{Tags::USER});
  }
  wf.target("rating_binary", DType::kInt32, TagSet{Tags::BINARY_CLASSIFICATION})
      .target("rating", DType::kFloat32, TagSet{Tags::REGRESSION});
  return wf;
}

fs::path locate_movielens(std::string_view variant, const fs::path& dir,
                          const MovieLensOptions& options) {
  const std::vector<std::string> files = movielens_files(variant);
  const auto has_all = [&](const fs::path& d) {
    // A FIFO or a device in the raw file's place is an error naming it, not a missing file.
    for (const std::string& f : files) io::check_input_file(d / f);
    return std::all_of(files.begin(), files.end(),
                       [&](const std::string& f) { return fs::is_regular_file(d / f); });
  };
  const auto missing = [&](const fs::path& d) {
    std::vector<std::string> out;
    for (const auto& f : files) {
      if (!fs::is_regular_file(d / f)) out.push_back(f);
    }
    return fmt::format("{}", fmt::join(out, ", "));
  };
  fs::path raw_dir = dir / std::string(variant);
  const std::string file_list = fmt::format("{}", fmt::join(files, ", "));

  if (!options.source.empty()) {
    const fs::path& src = options.source;
    if (fs::is_directory(src)) {
      if (has_all(src)) return src;
      if (has_all(src / std::string(variant))) return src / std::string(variant);
      throw Error(fmt::format("MovieLens {}: source {} lacks {} (expected {} there or in {}/{})",
                              variant, src.string(), missing(src), file_list, src.string(),
                              variant));
    }
    io::check_input_file(src);
    RB_CHECK(fs::is_regular_file(src), Error,
             "MovieLens {}: source {} does not exist (expected a "
             "{}.zip or a folder holding {})",
             variant, src.string(), variant, file_list);
    unpack_zip(src, raw_dir, files);
    RB_CHECK(has_all(raw_dir), Error, "MovieLens {}: zip {} lacks {}", variant, src.string(),
             missing(raw_dir));
    return raw_dir;
  }
  if (has_all(raw_dir)) return raw_dir;
  if (has_all(dir)) return dir;

  const std::string url = movielens_url(variant);
  const std::string instructions = fmt::format(
      "download {} and unzip it into {} (it needs {}), or pass the zip or a folder holding the "
      "files as the source (--source ZIP_OR_DIR)",
      url, raw_dir.string(), file_list);
  RB_CHECK(options.download, Error, "MovieLens {}: raw files not found in {} ({} missing); {}",
           variant, raw_dir.string(), missing(raw_dir), instructions);
  const fs::path zip = dir / (std::string(variant) + ".zip");
  try {
    download_file(url, zip, {.progress = options.progress});
  } catch (const Error& e) {
    throw Error(
        fmt::format("MovieLens {}: raw files not found in {} and the download failed ({}); "
                    "{}",
                    variant, raw_dir.string(), e.what(), instructions));
  }
  unpack_zip(zip, raw_dir, files);
  std::error_code ignored;
  fs::remove(zip, ignored);
  RB_CHECK(has_all(raw_dir), Error, "MovieLens {}: the zip from {} lacks {}", variant, url,
           missing(raw_dir));
  return raw_dir;
}

namespace {

// What an import was made with; written last, so its presence also says
// the outputs are complete.
nlohmann::json import_record(std::string_view variant, const MovieLensOptions& options) {
  // Version 2 writes the timestamp column.
  nlohmann::json record = {{"format", "recblocks-movielens-import"},
                           {"version", 2},
                           {"variant", variant},
                           {"seed", options.seed},
                           {"valid_fraction", options.valid_fraction}};
  // Older records (random split only) have no "split": they still match.
  if (options.split != MovieLensSplit::kRandom) {
    record["split"] = split_name(options.split);
    record.erase("seed");  // only the random split draws
    if (options.split == MovieLensSplit::kLeaveLastOut) record.erase("valid_fraction");
  }
  if (options.history_length > 0) record["history_length"] = options.history_length;
  return record;
}

bool import_matches(const fs::path& out, const nlohmann::json& record) {
  const fs::path path = out / "import.json";
  if (!fs::is_regular_file(path) || !fs::is_regular_file(out / "train" / "schema.json") ||
      !fs::is_regular_file(out / "valid" / "schema.json") ||
      !fs::is_regular_file(out / "etl" / "workflow.json")) {
    return false;
  }
  std::ifstream in(path);
  const nlohmann::json existing = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return existing == record;
}

std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>> split_movielens(
    const etl::RawTable& raw, const MovieLensOptions& options) {
  switch (options.split) {
    case MovieLensSplit::kRandom:
      return split_rows(etl::num_rows(raw), options.seed, options.valid_fraction);
    case MovieLensSplit::kLeaveLastOut:
      return split_leave_last_out(raw.at("userId").ints, raw.at("timestamp").ints);
    case MovieLensSplit::kTime:
      return split_by_time(raw.at("timestamp").ints, options.valid_fraction);
  }
  throw Error("MovieLens: unknown split");
}

// `data` with the raw timestamps of its rows (TIME, int64).
Dataset with_timestamps(const Dataset& data, const etl::RawTable& raw,
                        std::span<const std::int64_t> rows) {
  const std::vector<std::int64_t>& all = raw.at("timestamp").ints;
  Tensor values = Tensor::empty({static_cast<std::int64_t>(rows.size())}, DType::kInt64);
  for (std::size_t i = 0; i < rows.size(); ++i)
    values.data<std::int64_t>()[i] = all[static_cast<std::size_t>(rows[i])];
  std::vector<ColumnSchema> schema(data.schema().begin(), data.schema().end());
  schema.emplace_back("timestamp", DType::kInt64, TagSet{Tags::TIME});
  std::map<std::string, Column> columns(data.columns().begin(), data.columns().end());
  columns["timestamp"] = Column{std::move(values), {}};
  return Dataset(Schema(std::move(schema)), std::move(columns));
}

}  // namespace

std::pair<Dataset, Dataset> movielens(std::string_view variant, const fs::path& dir,
                                      MovieLensOptions options) {
  detail::check_variant(variant);
  RB_CHECK(options.valid_fraction > 0 && options.valid_fraction < 1, ValueError,
           "MovieLens: valid_fraction {}: expected a value in (0, 1)", options.valid_fraction);
  RB_CHECK(options.history_length >= 0, ValueError,
           "MovieLens: history_length is {}, expected >= 0", options.history_length);
  const fs::path out = dir / std::string(variant);
  const nlohmann::json record = import_record(variant, options);
  if (!options.overwrite && import_matches(out, record)) {
    return {Dataset::load(out / "train"), Dataset::load(out / "valid")};
  }

  const fs::path raw_dir = locate_movielens(variant, dir, options);
  const etl::RawTable raw = read_movielens(variant, raw_dir);
  const auto [train_rows, valid_rows] = split_movielens(raw, options);
  etl::Workflow workflow = movielens_workflow(variant);
  Dataset train =
      with_timestamps(workflow.fit_transform(etl::take(raw, train_rows)), raw, train_rows);
  Dataset valid = with_timestamps(workflow.transform(etl::take(raw, valid_rows)), raw, valid_rows);
  if (options.history_length > 0) {
    const HistoryOptions history{.max_length = options.history_length};
    valid = add_history(valid, history, &train);
    train = add_history(train, history);
  }

  // The variant's folder is staged whole, its raw files carried over, and
  // replaces `out` in one step: a killed import leaves the old train/,
  // valid/, etl/ and import.json or the new ones, never a mix.
  io::StagedDirectory staged(out);
  staged.carry_over({"train", "valid", "etl", "import.json"});
  workflow.save(staged.path() / "etl");
  valid.save(staged.path() / "valid");
  train.save(staged.path() / "train");
  io::write_file_atomic(staged.path() / "import.json", record.dump(1) + "\n");
  staged.commit();
  return {Dataset::load(staged.target() / "train"), Dataset::load(staged.target() / "valid")};
}

}  // namespace recblocks::datasets
