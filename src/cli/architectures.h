// The architectures `recblocks train --model` builds: the seed notebook's
// custom DLRM, Merlin's DLRMModel preset, or a JSON file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recblocks/model/model.h"

namespace recblocks::cli {

// The columns the seed notebook selects (sub_schema), target last.
const std::vector<std::string>& seed_columns();

struct ArchitectureOptions {
  // A preset (preset_names()) or the path of a JSON file holding
  // {"architecture": <Block JSON>, "tasks": [<task JSON>...]} (a saved
  // model.json is one); without "tasks" they come from the schema's targets.
  std::string model = "custom-dlrm";
  std::int64_t embedding_dim = 64;
  std::vector<std::int64_t> bottom = {};  // empty: the preset's
  std::vector<std::int64_t> top =
      {};  // empty: the preset's (the deep/MLP block of dcn, deepfm, wide_deep, ncf, mlp)
  int cross_depth = 2;            // dcn: cross layers; ple: CGC layers
  std::int64_t low_rank_dim = 0;  // dcn: 0 = full-rank cross layers
  bool parallel = false;          // dcn: cross and deep side by side instead of stacked
  int num_experts = 4;            // mmoe
  std::int64_t num_bins = 10000;  // wide_deep: the most bins of a hashed cross
  // two_tower and mf (item retrieval on the ITEM_ID column): the task's
  // loss, logQ correction (on: in-batch negatives are popularity-sampled;
  // measured in bench/RESULTS.md), cosine scores and temperature.
  std::string retrieval_loss = "categorical_crossentropy";
  bool logq_correction = true;
  bool l2_normalization = false;
  double temperature = 1.0;
  // Run the candidate tower and score once per distinct item of a
  // training batch (UniqueRows); the same training, less work.
  bool unique_candidates = true;
  // Popularity-drawn negatives per batch after the in-batch ones (0: none).
  std::int64_t sampled_negatives = 0;
  // youtube_dnn (next-item prediction on the ITEM_ID column): a sampled
  // softmax with num_sampled popularity-drawn items, or the full one.
  bool sampled_softmax = true;
  std::int64_t num_sampled = 100;
  // The target of the presets' task; empty: the first binary target
  // (custom-dlrm) or every target (dlrm).
  std::string target = {};
};

// The seed's body: embeddings (dim 64) and continuous -> MLP[64] in
// parallel, dot-product interaction with the continuous shortcut, MLP[64,
// 128, 512] (the notebook's deep_dlrm_interaction).
Block seed_dlrm_body(const Schema& schema, std::int64_t embedding_dim = 64);
// The seed's task: binary classification of `target` with the AUC metric
// and LogitsTemperatureScaler(2) as `pre`.
PredictionTask seed_dlrm_task(const std::string& target);

Model make_model(const ArchitectureOptions& options, const Schema& schema);

// The optimizer `recblocks train` compiles with: `name` at `learning_rate`
// (0: its default), and when wide_name is given (or for the wide_deep
// preset, where it defaults to ftrl) a MultiOptimizer giving the parameters
// under "wide/" wide_name at wide_learning_rate (0: its kWidePresetRates
// rate, kWideFtrlRate for ftrl, else its default).
struct OptimizerChoice {
  std::string name = "adam";
  double learning_rate = 0;
  std::string wide_name = {};
  double wide_learning_rate = 0;
};
Optimizer make_optimizer(const OptimizerChoice& choice, const std::string& model);
// The wide part's FTRL rate when none is given. The loss is the batch mean,
// so a weight seen once in a batch gets a gradient of about 1 / batch_size,
// which FTRL's first steps scale by lr / sqrt(0.1): Keras' default 0.001
// leaves the wide part near zero. Chosen on ml-100k (bench/RESULTS.md,
// "Wide&Deep's wide learning rate").
inline constexpr double kWideFtrlRate = 0.05;
// The wide part's rate by optimizer type when none is given; the others
// keep their own default.
inline constexpr std::pair<std::string_view, double> kWidePresetRates[] = {{"ftrl", kWideFtrlRate}};
// custom-dlrm, dlrm, dcn, deepfm, wide_deep, ncf, mlp, mmoe, ple,
// two_tower, mf, youtube_dnn.
const std::vector<std::string>& preset_names();
// One line for --help.
std::string architecture_help();

}  // namespace recblocks::cli
