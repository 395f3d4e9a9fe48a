// Multi-task experts: Merlin's MMOEBlock (Ma et al. 2018, Multi-gate
// Mixture-of-Experts).
//
//   auto body = inputs.connect(rb::MLPBlock({64}))
//                   .connect(rb::MMOEBlock({"click/binary_classification_task",
//                                           "rating/regression_task"},
//                                          rb::MLPBlock({32}), /*num_experts=*/4));
//   rb::Model model(body, {rb::BinaryClassificationTask("click"), rb::RegressionTask("rating")});
//
// The output is a dict with one entry per name in `outputs`; a Model gives
// each task the entry named after it (PredictionTask::name()).
#pragma once

#include <string>
#include <vector>

#include "recblocks/blocks/block.h"

namespace recblocks {

struct MMOEOptions {
  // Applied to the input before each output's gate layer (a copy per
  // output); undefined: the gates read the input itself.
  Block gate_block = {};
  // The gates' softmax runs on logits / temperature (> 0).
  double gate_softmax_temperature = 1.0;
};

// num_experts copies of expert_block (each with its own weights) on the
// input x [B, n] (a dict is concatenated), each giving [B, d]; for each
// output k a gate g_k = softmax(Dense_E(gate_block(x)) / temperature)
// [B, E]; output k is sum_e g_k[:, e] * expert_e(x) [B, d]. Parameters:
// "expert_<e>/...", "gate_<k>/..." (k in the order of `outputs`).
// Throws ValueError for no outputs, a repeated output, num_experts < 1 or a
// bad temperature; experts whose outputs differ in shape fail at build.
class MMOEBlock : public Block {
 public:
  MMOEBlock(std::vector<std::string> outputs, const Block& expert_block, int num_experts,
            MMOEOptions options = {});

 private:
  explicit MMOEBlock(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
  friend void register_experts();
};

}  // namespace recblocks
