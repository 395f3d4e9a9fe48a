// Multi-task experts: Merlin's MMOEBlock (Ma et al. 2018, Multi-gate
// Mixture-of-Experts), CGCBlock and PLEBlock (Tang et al. 2020, Customized
// Gate Control and Progressive Layered Extraction).
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
#include "recblocks/core/options.h"

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
// [B, E]; output k is sum_e g_k[:, e] * expert_e(x) [B, d]. This is a
// CGCBlock with shared experts only, and it is one (its type and JSON are
// CGCBlock's). Parameters: "shared_expert_<e>/...", "gate_<k>/..." (k in the
// order of `outputs`). Throws ValueError for no outputs, a repeated output,
// num_experts < 1 or a bad temperature; experts whose outputs differ in
// shape fail at build.
class MMOEBlock : public Block {
 public:
  MMOEBlock(std::vector<std::string> outputs, const Block& expert_block, int num_experts,
            MMOEOptions options = {});
};

struct CGCOptions {
  int num_task_experts = 1;
  int num_shared_experts = 1;
  bool add_shared_gate = false;
  Block gate_block = {};  // as MMOEOptions::gate_block; in JSON the gates are child blocks
  double gate_softmax_temperature = 1.0;

  // The keys of a CGCBlock's JSON config (gate_block is not one: the gates
  // are its children).
  static auto option_fields() {
    using O = CGCOptions;
    using options::field;
    return options::table<O>(
        "CGCOptions", field("num_task_experts", &O::num_task_experts, "experts of each output"),
        field("num_shared_experts", &O::num_shared_experts,
              "experts shared by every output, >= 0; task + shared experts must be >= 1"),
        field("add_shared_gate", &O::add_shared_gate,
              "also output \"shared\": a gate over every expert (the next PLE layer's shared "
              "input)"),
        field("gate_softmax_temperature", &O::gate_softmax_temperature,
              "the gates' softmax runs on logits / temperature, > 0"));
  }
};

// One CGC layer. Each output k has num_task_experts experts of its own and
// shares num_shared_experts; its gate mixes its own and the shared experts
// (softmax over num_task_experts + num_shared_experts). The input is a
// tensor [B, n] (a dict without these keys is concatenated) read by every
// expert and gate, or, between PLE layers, a dict holding an entry per
// output (read by that output's experts and gate) and "shared" (read by the
// shared experts and the shared gate). Output: a dict, an entry per output,
// plus "shared" with add_shared_gate. Parameters: "task_<k>_expert_<i>/...",
// "shared_expert_<i>/...", "gate_<k>/...", "shared_gate/...".
class CGCBlock : public Block {
 public:
  CGCBlock(std::vector<std::string> outputs, const Block& expert_block, CGCOptions options = {});

 private:
  explicit CGCBlock(std::shared_ptr<BlockBase> impl) : Block(std::move(impl)) {}
  friend void register_experts();
};

// num_layers CGC layers in sequence (a SequentialBlock of CGCBlocks): all
// but the last add the shared gate, which the next layer's shared experts
// read; the last outputs an entry per output. num_layers >= 1.
class PLEBlock : public Block {
 public:
  PLEBlock(int num_layers, std::vector<std::string> outputs, const Block& expert_block,
           CGCOptions options = {});
};

}  // namespace recblocks
