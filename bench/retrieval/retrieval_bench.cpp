// retrieval_bench: recblocks' side of the retrieval benchmark (run.sh runs
// it and the PyTorch reference bench/torch_ref/retrieval.py on the same
// dataset directories).
//
//   retrieval_bench --model ann [--items 200000] [--queries 1000] [--dim 64] [--threads 2]
//   retrieval_bench --model mf|two_tower|youtube_dnn|popularity --data DIR [--epochs 5]
//                   [--batch-size 1024] [--learning-rate 0.005] [--threads 2]
//                   [--seed S] [--no-logq] [--l2-norm] [--temperature T]
//                   [--loss categorical_crossentropy|bpr|logistic|hinge]
//                   [--num-sampled 100] [--full-softmax]      (youtube_dnn)
//
// DIR holds train/ and valid/ (e.g. `recblocks data movielens --split
// leave-last-out`, with `--history 20` for youtube_dnn). The models are the CLI's presets (src/cli/
// architectures.cpp) trained with Adam; the evaluation is exact top-k over
// the catalogue of train's items, each user's train items excluded, the
// valid row's item the one relevant item. Prints one JSON line:
//   {"impl": "recblocks", "model", "seed", "epochs", "batch_size", "lr",
//    "threads", "train_seconds", "train_samples_per_s", "final_loss",
//    "recall_at_10", "ndcg_at_10", "mrr_at_10", "precision_at_10"}
// train_samples_per_s counts the training steps only (fit without
// training metrics or validation).
//
// --model ann: a synthetic catalogue (--items vectors of --dim in 100
// clusters, like trained item embeddings) and --queries queries; the exact
// scan (retrieval::top_k) against FAISS HNSW and IVF (retrieval::AnnIndex,
// default options): build seconds, queries/s, recall@10 against the exact
// answer. One JSON line per method.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/architectures.h"
#include "recblocks/recblocks.h"

namespace rb = recblocks;

int main(int argc, char** argv) {
  std::string model_name = "mf", data, loss = "categorical_crossentropy";
  int epochs = 5, threads = 2;
  std::int64_t batch_size = 1024;
  double learning_rate = 0.005, temperature = 1.0;
  std::uint64_t seed = 0;
  bool no_logq = false, l2_norm = false, full_softmax = false;
  std::int64_t num_sampled = 100;
  CLI::App app("recblocks' side of the retrieval benchmark");
  app.add_option("--model", model_name)
      ->check(CLI::IsMember({"mf", "two_tower", "youtube_dnn", "popularity", "ann"}));
  app.add_option("--data", data);
  app.add_option("--epochs", epochs);
  app.add_option("--batch-size", batch_size);
  app.add_option("--learning-rate", learning_rate);
  app.add_option("--threads", threads);
  app.add_option("--seed", seed);
  app.add_flag("--no-logq", no_logq);
  app.add_flag("--l2-norm", l2_norm);
  app.add_option("--temperature", temperature);
  app.add_option("--loss", loss);
  app.add_option("--num-sampled", num_sampled);
  app.add_flag("--full-softmax", full_softmax);
  bool every_row = false;
  app.add_flag("--no-unique-candidates", every_row);
  std::int64_t sampled_negatives = 0;
  app.add_option("--sampled-negatives", sampled_negatives);
  std::int64_t ann_items = 200000, ann_queries = 1000, ann_dim = 64;
  app.add_option("--items", ann_items);
  app.add_option("--queries", ann_queries);
  app.add_option("--dim", ann_dim);
  CLI11_PARSE(app, argc, argv);
  try {
    rb::set_num_threads(threads);
    if (model_name == "ann") {
      auto clustered = [&](std::int64_t n, std::uint64_t seed) {
        rb::Rng centers(7);
        std::vector<float> c(static_cast<std::size_t>(100 * ann_dim));
        for (float& x : c) x = centers.normal();
        rb::Rng rng(seed);
        rb::Tensor t = rb::Tensor::empty({n, ann_dim});
        for (std::int64_t i = 0; i < n; ++i) {
          const auto k = static_cast<std::int64_t>(rng.next_u64() % 100);
          for (std::int64_t j = 0; j < ann_dim; ++j) {
            t.data<float>()[i * ann_dim + j] =
                c[static_cast<std::size_t>(k * ann_dim + j)] + 0.7f * rng.normal();
          }
        }
        return t;
      };
      const rb::Tensor items = clustered(ann_items, 1), queries = clustered(ann_queries, 2);
      auto now = [] { return std::chrono::steady_clock::now(); };
      auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
      auto t0 = now();
      const rb::retrieval::TopK exact = rb::retrieval::top_k(queries, items, 10);
      const double exact_s = secs(t0, now());
      std::printf("%s\n", nlohmann::json({{"impl", "recblocks"},
                                          {"method", "exact"},
                                          {"items", ann_items},
                                          {"dim", ann_dim},
                                          {"threads", threads},
                                          {"queries_per_s", ann_queries / exact_s},
                                          {"recall_at_10", 1.0}})
                              .dump()
                              .c_str());
      for (auto kind : {rb::retrieval::AnnKind::kHnsw, rb::retrieval::AnnKind::kIvf}) {
        t0 = now();
        const rb::retrieval::AnnIndex index(items, {.kind = kind});
        const double build_s = secs(t0, now());
        t0 = now();
        const rb::retrieval::TopK approx = index.search(queries, 10);
        const double search_s = secs(t0, now());
        std::printf("%s\n",
                    nlohmann::json({{"impl", "recblocks"},
                                    {"method", rb::retrieval::ann_kind_name(kind)},
                                    {"items", ann_items},
                                    {"dim", ann_dim},
                                    {"threads", threads},
                                    {"build_seconds", build_s},
                                    {"queries_per_s", ann_queries / search_s},
                                    {"speedup_vs_exact", exact_s / search_s},
                                    {"recall_at_10", rb::retrieval::recall_against(approx, exact)}})
                        .dump()
                        .c_str());
      }
      return 0;
    }
    if (data.empty()) throw rb::ValueError("--data DIR is required for --model " + model_name);
    const rb::Dataset train = rb::Dataset::load(std::filesystem::path(data) / "train");
    const rb::Dataset valid = rb::Dataset::load(std::filesystem::path(data) / "valid");
    const rb::Schema ids = train.schema().select_by_tag(rb::Tags::ITEM_ID);
    const std::string item_column = ids.column_names().at(0);
    const std::string user_column =
        train.schema().select_by_tag(rb::Tags::USER_ID).column_names().at(0);
    const rb::retrieval::SeenItems seen(train, user_column, item_column);
    const rb::retrieval::TopKEvaluateOptions eval{.ks = {10}, .seen = &seen};
    nlohmann::json out = {
        {"impl", "recblocks"}, {"model", model_name}, {"seed", seed}, {"threads", threads}};
    rb::Logs logs;
    if (model_name == "popularity") {
      logs = rb::retrieval::PopularityRecommender(train, item_column).evaluate(valid, eval);
    } else {
      rb::cli::ArchitectureOptions arch{.model = model_name};
      arch.retrieval_loss = loss;
      arch.logq_correction = !no_logq;
      arch.l2_normalization = l2_norm;
      arch.temperature = temperature;
      arch.num_sampled = num_sampled;
      arch.sampled_softmax = !full_softmax;
      arch.unique_candidates = !every_row;
      arch.sampled_negatives = sampled_negatives;
      rb::Model model = rb::cli::make_model(arch, train.schema());
      model.build(train.schema(), seed);
      model.compile(rb::optim::Adam({.learning_rate = learning_rate}));
      const auto start = std::chrono::steady_clock::now();
      const rb::History history = model.fit(train, {.batch_size = batch_size,
                                                    .epochs = epochs,
                                                    .seed = seed,
                                                    .train_metrics_steps = 0,
                                                    .progress = false});
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      logs = rb::retrieval::TopKRecommender(model, train).evaluate(valid, eval);
      out["epochs"] = epochs;
      out["batch_size"] = batch_size;
      out["lr"] = learning_rate;
      out["logq"] = !no_logq;
      if (model_name != "youtube_dnn") {
        out["unique_candidates"] = !every_row;
        out["sampled_negatives"] = sampled_negatives;
      }
      if (model_name == "youtube_dnn") {
        out["num_sampled"] = num_sampled;
        out["sampled"] = !full_softmax;
      }
      out["train_seconds"] = seconds;
      out["train_samples_per_s"] = static_cast<double>(train.num_rows()) * epochs / seconds;
      out["final_loss"] = history.epochs.back().at("loss");
    }
    for (const char* key : {"recall_at_10", "ndcg_at_10", "mrr_at_10", "precision_at_10"})
      out[key] = logs.at(key);
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "retrieval_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
