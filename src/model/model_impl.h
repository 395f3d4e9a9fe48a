// The Model's state, shared by model.cpp (training, evaluation) and
// model_io.cpp (save, load, checkpoints).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recblocks/autograd/tape.h"
#include "recblocks/model/model.h"

namespace recblocks {

struct Model::Impl {
  Block body;
  std::vector<PredictionTask> tasks;
  Schema schema;  // features and targets, once built
  bool built = false;
  std::uint64_t seed = 0;
  // Why build() failed after the blocks were built with parameters not
  // allocated yet; such a model must not run (build() refuses it).
  std::string build_error;

  Optimizer optimizer;
  CompileOptions compile;
  bool compiled = false;
  // init() ran for the built parameters (compile and build come in either
  // order; fit() makes sure).
  bool optimizer_ready = false;

  Tape tape{std::size_t{1} << 24};

  // Where fit() is, for checkpoints: the epoch running, the batches of it
  // done, all steps done, the history of the finished epochs and the
  // running sums of the current one.
  struct Position {
    int epoch = 0;
    std::int64_t batch_in_epoch = 0;
    std::int64_t global_step = 0;
    std::uint64_t loader_seed = 0;
    std::int64_t batch_size = 0;
    bool shuffle = true;
    std::int64_t train_rows = 0;
    double loss_sum = 0;
    double regularization_sum = 0;
    std::vector<double> task_loss_sums;
    std::int64_t rows = 0;
    History history;
  };
  Position position;

  // The parameters by model name (body first, then each task's head), each
  // once.
  std::vector<std::pair<std::string, ParameterPtr>> parameters() const;
};

}  // namespace recblocks
