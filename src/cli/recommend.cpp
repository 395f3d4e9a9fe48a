// `recblocks recommend`: the top-k items of a trained retrieval model
// (two_tower, mf, youtube_dnn) for users, exactly over the whole catalogue.
//
//   recblocks recommend --model DIR --data TRAIN_DIR --user 196 [--user 7 ...] [--k 10] [--json]
//   recblocks recommend --model DIR --data TRAIN_DIR --queries VALID_DIR --out DIR [--k 10]
//                       [--index exact|hnsw|ivf]
//
// For a model reading an item history (youtube_dnn), --user asks what
// comes next: the user's latest row in --data, its history advanced by
// that row's item (datasets::advance_history); --queries scores each row as
// it is, its history being what came before that row (validation rows).
//
// --data is the training dataset: its items form the catalogue, each
// user's rows give the user's features (the first row) and history (left
// out of the answer unless --include-seen). --user takes the raw id of the
// original data when the model carries its ETL state (etl/categorify), else
// the encoded id. A user with no row in --data gets the popularity list
// (--unknown-user popular, the default) or an error (--unknown-user error).
// The batch form writes a dataset with the query rows' user ids and
// top_k_items / top_k_scores list columns (encoded item ids).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "datasets.h"
#include "flags.h"
#include "recblocks/data/sequences.h"
#include "recblocks/io/paths.h"
#include "recblocks/recblocks.h"

namespace recblocks::cli {

namespace fs = std::filesystem;

namespace {

struct RecommendArgs {
  std::string model, data, queries, out, unknown_user = "popular", index = "exact";
  std::vector<std::string> users;
  std::int64_t k = 10;
  bool include_seen = false;
  bool json = false;
  bool overwrite = false;
};

// The ETL vocabulary of a column saved with the model, if any.
std::optional<etl::Categorify> vocabulary(const fs::path& model_dir, const std::string& column) {
  const fs::path path = model_dir / "etl" / "categorify" / (column + ".json");
  if (!fs::exists(path)) return std::nullopt;
  return etl::Categorify::load(path);
}

// The raw key of an encoded id, or the id itself without a vocabulary.
std::string raw_key(const std::optional<etl::Categorify>& vocab, std::int64_t id) {
  if (!vocab || id < etl::kFirstValueId || id - etl::kFirstValueId >= vocab->vocabulary_size()) {
    return std::to_string(id);
  }
  const std::int64_t i = id - etl::kFirstValueId;
  return vocab->kind() == etl::KeyKind::kString ? std::string(vocab->string_key(i))
                                                : std::to_string(vocab->int_key(i));
}

std::int64_t id_at(const Tensor& t, std::int64_t i) {
  return t.dtype() == DType::kInt64 ? t.data<std::int64_t>()[i] : t.data<std::int32_t>()[i];
}

void run_recommend(const RecommendArgs& args) {
  RB_CHECK(args.unknown_user == "popular" || args.unknown_user == "error", ValueError,
           "recommend: --unknown-user is '{}', expected popular or error", args.unknown_user);
  RB_CHECK(args.users.empty() != args.queries.empty(), ValueError,
           "recommend: give --user ID (one or more) or --queries DIR with --out DIR");
  RB_CHECK(args.queries.empty() || !args.out.empty(), ValueError,
           "recommend: --queries needs --out DIR");
  RB_CHECK(args.out.empty() || !args.queries.empty(), ValueError,
           "recommend: --out is for the batch form (--queries DIR); --user prints the answer");
  if (!args.out.empty()) {
    io::check_output({"--out", args.out, io::OutputKind::kDataset},
                     {{"--model", args.model}, {"--data", args.data}, {"--queries", args.queries}},
                     args.overwrite);
  }
  const Model model = Model::load(args.model);
  RB_CHECK(model.tasks().size() == 1 && model.tasks()[0].impl().recommends_items(), ValueError,
           "recommend: {} is not a retrieval model (train one with --model two_tower, mf or "
           "youtube_dnn)",
           args.model);
  const std::string item_column = model.tasks()[0].target();
  const Schema user_ids = model.schema().select_by_tag(Tags::USER_ID);
  RB_CHECK(user_ids.size() == 1, ValueError,
           "recommend: the model's schema needs one USER_ID column, it has [{}]",
           fmt::join(user_ids.column_names(), ", "));
  const std::string user_column = user_ids.column_names().front();
  const Dataset data = open_dataset(args.data, {.read_as = &model.schema()});
  retrieval::TopKRecommender top(model, data);
  if (args.index != "exact") {
    top.use_index(std::make_shared<retrieval::AnnIndex>(
        top.item_vectors(),
        retrieval::AnnOptions{.kind = retrieval::ann_kind_from_name(args.index)}));
  }
  const retrieval::SeenItems seen(data, user_column, item_column);
  const retrieval::SeenItems* exclude = args.include_seen ? nullptr : &seen;
  if (args.k > top.num_items()) {
    fmt::print(stderr, "recommend: k = {} is larger than the catalogue; capped to its {} items\n",
               args.k, top.num_items());
  }
  const std::int64_t k = std::min(args.k, top.num_items());

  if (!args.queries.empty()) {
    const Dataset queries = open_dataset(args.queries, {.read_as = &model.schema()});
    RB_CHECK(queries.columns().count(user_column) == 1, ValueError,
             "recommend: --queries {} has no column '{}' (the model's USER_ID column)",
             args.queries, user_column);
    const retrieval::TopK best = top.recommend(queries, k, exclude);
    if (top.has_index()) {
      fmt::print("{} index: recall@{} against the exact answer over the {} queries: {:.4f}\n",
                 args.index, k, queries.num_rows(), top.index_recall(queries, k, exclude));
    }
    const std::int64_t rows = queries.num_rows();
    std::vector<std::int64_t> offsets(static_cast<std::size_t>(rows + 1));
    for (std::int64_t r = 0; r <= rows; ++r) offsets[static_cast<std::size_t>(r)] = r * k;
    const Tensor offsets_tensor = Tensor::from<std::int64_t>({rows + 1}, offsets);
    const ColumnSchema user_schema = [&] {
      for (const ColumnSchema& c : queries.schema()) {
        if (c.name() == user_column) return c;
      }
      throw ValueError(
          fmt::format("recommend: --queries {} has no column '{}'", args.queries, user_column));
    }();
    Schema schema({user_schema,
                   ColumnSchema("top_k_items", DType::kInt64, {Tags::ITEM_ID}).with_list(true),
                   ColumnSchema("top_k_scores", DType::kFloat32).with_list(true)});
    Dataset(schema, {{user_column, queries.column(user_column)},
                     {"top_k_items", Column{best.ids.view({rows * k}), offsets_tensor}},
                     {"top_k_scores", Column{best.scores.view({rows * k}), offsets_tensor}}})
        .save(args.out);
    fmt::print("wrote the top {} of {} items for {} query rows to {}\n", k, top.num_items(), rows,
               args.out);
    return;
  }

  const auto users_vocab = vocabulary(args.model, user_column);
  const auto items_vocab = vocabulary(args.model, item_column);
  const Tensor& user_values = data.column(user_column).values;
  // A sequence model (YoutubeDNN) reads the user's history.
  std::optional<datasets::HistoryOptions> history;
  const std::string history_column = item_column + "_history";
  if (model.schema().contains(history_column)) {
    const auto& count = model.schema().column(history_column).value_count();
    history = datasets::HistoryOptions{.user_column = user_column,
                                       .item_column = item_column,
                                       .max_length = count && count->max > 0 ? count->max : 20};
  }
  const Tensor* times =
      data.schema().contains("timestamp") ? &data.column("timestamp").values : nullptr;
  std::optional<retrieval::PopularityRecommender> popular;
  nlohmann::json answers = nlohmann::json::array();
  for (const std::string& raw : args.users) {
    // The whole argument must be the id ("196abc" and "1e3" are errors).
    auto integer = [&]() -> std::int64_t {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
      RB_CHECK(ec == std::errc() && end == raw.data() + raw.size() && !raw.empty(), ValueError,
               "recommend: --user '{}' is not an integer id", raw);
      return v;
    };
    std::int64_t id = -1;
    if (users_vocab) {
      id = users_vocab->kind() == etl::KeyKind::kString ? users_vocab->lookup(std::string_view(raw))
                                                        : users_vocab->lookup(integer());
    } else {
      id = integer();
    }
    // The user's first row; with a history column, the latest one (by
    // timestamp, then file order), its history advanced by its own item.
    std::int64_t row = -1;
    for (std::int64_t r = 0; r < data.num_rows() && id >= 0 && (row < 0 || history); ++r) {
      if (id_at(user_values, r) != id) continue;
      if (row < 0 || times == nullptr || id_at(*times, r) >= id_at(*times, row)) row = r;
    }
    retrieval::TopK best;
    bool fallback = false;
    if (row >= 0) {
      const std::int64_t rows[] = {row};
      Dataset query = data.take(rows);
      if (history) query = datasets::advance_history(query, *history);
      best = top.recommend(query, k, exclude);
      if (top.has_index() && !args.json) {
        fmt::print("{} index: recall@{} against the exact answer for user {}: {:.4f}\n", args.index,
                   k, raw, top.index_recall(query, k, exclude));
      }
    } else {
      RB_CHECK(args.unknown_user == "popular", ValueError,
               "recommend: user '{}' has no rows in {} (and --unknown-user error)", raw, args.data);
      if (!popular) popular.emplace(data, item_column);
      const std::int64_t rows[] = {0};
      best = popular->recommend(data.take(rows), k);
      fallback = true;
    }
    nlohmann::json items = nlohmann::json::array();
    for (std::int64_t j = 0; j < best.ids.size(1); ++j) {
      const std::int64_t item = best.ids.data<std::int64_t>()[j];
      if (item < 0) break;
      items.push_back({{"item", raw_key(items_vocab, item)},
                       {"id", item},
                       {"score", best.scores.data<float>()[j]}});
    }
    if (args.json) {
      answers.push_back({{"user", raw}, {"popularity_fallback", fallback}, {"items", items}});
      continue;
    }
    fmt::print("user {}{}:\n", raw, fallback ? " (unknown: the popularity list)" : "");
    for (std::size_t j = 0; j < items.size(); ++j) {
      fmt::print("  {:>3}. {} {:<10} score {:.4f}\n", j + 1, item_column,
                 items[j]["item"].get<std::string>(), items[j]["score"].get<float>());
    }
  }
  if (args.json) fmt::print("{}\n", answers.dump());
}

}  // namespace

void register_recommend(CLI::App& app) {
  auto a = std::make_shared<RecommendArgs>();
  CLI::App* cmd = app.add_subcommand(
      "recommend", "Top-k items of a retrieval model (two_tower, mf, youtube_dnn) for users");
  cmd->add_option("--model", a->model, "The model directory")->required();
  cmd->add_option("--data", a->data,
                  "The training dataset: the catalogue, the users' features and histories")
      ->required();
  cmd->add_option("--user", a->users,
                  "A user id (raw, as in the original data, when the model has its ETL)");
  cmd->add_option("--queries", a->queries, "Batch form: a dataset whose rows are the queries");
  cmd->add_option("--out", a->out, "Batch form: the output dataset directory");
  add_overwrite_flag(*cmd, a->overwrite);
  cmd->add_option("--k", a->k, "Items per user")
      ->capture_default_str()
      ->check(integer_in(1, kMaxK, "items"));
  cmd->add_flag("--include-seen", a->include_seen, "Do not leave out the user's items in --data");
  cmd->add_option("--unknown-user", a->unknown_user, "popular (the popularity list) or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"popular", "error"}));
  cmd->add_flag("--json", a->json, "Print one JSON array");
  cmd->add_option("--index", a->index,
                  "exact (the scan), or an approximate FAISS index: hnsw or ivf (its recall "
                  "against the exact "
                  "answer is printed)")
      ->capture_default_str()
      ->check(CLI::IsMember({"exact", "hnsw", "ivf"}));
  cmd->callback([a] { run_recommend(*a); });
}

}  // namespace recblocks::cli
