// Blocks: the composable parts of a model, as in Merlin Models.
//
//   auto continuous = rb::ContinuousFeatures::from_schema(schema, rb::Tags::CONTINUOUS);
//   auto deep = continuous.connect(rb::MLPBlock({64}));
//   std::cout << deep(batch);        // eager: a tensor [4, 64]
//
// A Block is a cheap handle with shared ownership of its implementation
// (BlockBase), so blocks compose like the Python original: connecting two
// blocks makes a new block that holds both, and the weights are shared.
//
// Life of a block
//   1. Build. Shapes come from the schema: build(input spec) creates the
//      parameters and returns the output spec. It runs once, on the first
//      eager call or when a model is compiled; later builds must see the
//      same input spec. Initialisation is seeded by the BlockContext, so a
//      model built twice from one seed has the same weights.
//   2. RunContext. forward(input Flow, RunContext&) records ops on the step's Tape; the
//      same code serves training (gradients), evaluation and the eager call
//      (no gradients). Train/eval mode is a property of the run, not of the
//      block (RunContext::training): Dropout and BatchNorm read it.
//
// What flows between blocks (Flow) is one of:
//   - the raw batch (the features of one Batch): what feature blocks read;
//   - a tensor [batch, ...];
//   - a dict name -> tensor, in insertion order (the outputs of feature
//     blocks and ParallelBlock).
// A block that needs a tensor and gets a dict concatenates its values
// along the last axis, in order (as Merlin's MLPBlock and Dense do).
//
// Save and rebuild: every block type has a registered name and a JSON
// config (config()); Block::from_config rebuilds the architecture, and
// state() / load_state() move the weights by name.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "recblocks/autograd/parameter.h"
#include "recblocks/autograd/tape.h"
#include "recblocks/blocks/initializers.h"
#include "recblocks/core/options.h"
#include "recblocks/core/shape.h"
#include "recblocks/core/tensor.h"
#include "recblocks/data/loader.h"
#include "recblocks/schema/schema.h"

namespace recblocks {

class Block;
class BlockBase;
class Model;           // model/model.h
class PredictionTask;  // tasks/tasks.h

// ---------------------------------------------------------------------------
// Specs: the shape of what flows, without the batch dimension.
// ---------------------------------------------------------------------------

// One tensor per row: `shape` excludes the batch axis ([64] for [B, 64]).
struct TensorSpec {
  Shape shape;
  DType dtype = DType::kFloat32;
  friend bool operator==(const TensorSpec&, const TensorSpec&) = default;
};

class FlowSpec {
 public:
  enum class Kind : std::uint8_t { kInputs, kTensor, kDict };
  using Dict = std::vector<std::pair<std::string, TensorSpec>>;

  // The raw inputs described by a schema (features only, no targets).
  static FlowSpec inputs(Schema schema);
  static FlowSpec tensor(TensorSpec spec);
  static FlowSpec dict(Dict entries);

  Kind kind() const { return kind_; }
  const Schema& schema() const;      // kInputs
  const TensorSpec& tensor() const;  // kTensor; throws naming the kind otherwise
  const Dict& dict() const;          // kDict
  // A tensor spec or a dict's values concatenated on the last axis (all
  // float32, same rank; throws naming the mismatching entries).
  TensorSpec as_tensor(std::string_view who) const;
  std::string str() const;  // "[64]", "{userId: [64], movieId: [64]}", "inputs{...}"

  friend bool operator==(const FlowSpec&, const FlowSpec&) = default;

 private:
  Kind kind_ = Kind::kTensor;
  Schema schema_;
  TensorSpec tensor_;
  Dict dict_;
};

// ---------------------------------------------------------------------------
// Flow: a value between blocks during one run on a Tape.
// ---------------------------------------------------------------------------

class Flow {
 public:
  using Dict = std::vector<std::pair<std::string, Var>>;

  Flow() = default;
  static Flow inputs(const Batch& batch);
  static Flow tensor(Var value);
  static Flow dict(Dict entries);

  FlowSpec::Kind kind() const { return kind_; }
  const Batch& batch() const;  // kInputs
  const Var& tensor() const;   // kTensor
  const Dict& dict() const;    // kDict
  // The entry `name` of a dict; throws listing the keys.
  const Var& at(std::string_view name) const;
  // A tensor, or a dict concatenated on the last axis (see above).
  Var as_tensor(std::string_view who) const;

 private:
  FlowSpec::Kind kind_ = FlowSpec::Kind::kTensor;
  std::shared_ptr<const Batch> batch_;
  Var tensor_;
  Dict dict_;
};

// ---------------------------------------------------------------------------
// Contexts.
// ---------------------------------------------------------------------------

// Shared by the blocks of one model (Merlin's BlockContext): the seed of
// parameter initialisation and the embedding tables shared by domain name.
//
// Blocks make their parameters through it (parameter(), constant_parameter()).
// A deferring context (Model::build) gives them no storage at first: the
// model's parameters are all known, by name and shape, before a byte is
// allocated, so their total is checked against the memory limit and a
// loaded model's against its weights file; allocate_parameters() then
// allocates and initialises them, with the same values as an immediate
// context gives.
class BlockContext {
 public:
  explicit BlockContext(std::uint64_t seed = 0, bool defer_allocation = false)
      : seed_(seed), defer_(defer_allocation) {}

  std::uint64_t seed() const { return seed_; }
  // A fresh initialisation stream per call, in build order.
  std::uint64_t next_stream() { return seed_ * 0x9E3779B97F4A7C15ull + ++streams_; }

  // A parameter of `shape` initialised by `init` with the next stream (the
  // stream is drawn now, whether or not the allocation is deferred):
  //   layer.kernel = context.parameter("dense_0/kernel", {in, units}, options.kernel_initializer);
  ParameterPtr parameter(std::string name, const Shape& shape, const Initializer& init,
                         bool trainable = true);
  // A parameter of `shape` filled with `value` (no stream drawn): the scale
  // and shift of a normalisation, its running statistics (trainable false).
  ParameterPtr constant_parameter(std::string name, const Shape& shape, float value,
                                  bool trainable = true);
  bool defers_allocation() const { return defer_; }
  // The parameters made so far and not allocated yet, in the order made.
  std::vector<ParameterPtr> deferred_parameters() const;
  // Allocates and initialises them (an immediate context has none).
  void allocate_parameters();
  // The table of a domain: created by `make` on first request, then shared.
  ParameterPtr shared_table(const std::string& domain, const std::function<ParameterPtr()>& make);
  const std::map<std::string, ParameterPtr>& shared_tables() const { return tables_; }

 private:
  // How a deferred parameter is filled: an initializer and its stream, or
  // a constant.
  struct Pending {
    ParameterPtr parameter;
    std::optional<Initializer> init;
    std::uint64_t stream = 0;
    float value = 0;
  };
  void fill(const Pending& pending) const;

  std::uint64_t seed_ = 0;
  std::uint64_t streams_ = 0;
  bool defer_ = false;
  std::map<std::string, ParameterPtr> tables_;
  std::vector<Pending> pending_;
};

// One run of the blocks over a batch on a tape.
class RunContext {
 public:
  RunContext(Tape& tape, const Batch& batch, bool training)
      : tape_(tape), batch_(batch), training_(training) {}
  RunContext(Tape& tape, const Batch&& batch, bool training) = delete;  // would dangle

  Tape& tape() const { return tape_; }
  const Batch& batch() const { return batch_; }
  bool training() const { return training_; }
  // The tape leaf of a parameter, one per run even when shared.
  Var param(const ParameterPtr& p);

 private:
  Tape& tape_;
  const Batch& batch_;
  bool training_;
  std::map<const Parameter*, Var> params_;
};

// ---------------------------------------------------------------------------
// BlockBase: what a block type implements.
// ---------------------------------------------------------------------------

class BlockBase {
 public:
  virtual ~BlockBase() = default;

  // The registered type name ("MLPBlock").
  virtual std::string_view type() const = 0;
  // Its configuration without children (they are listed by children()).
  virtual nlohmann::json config() const = 0;
  // Sub-blocks with their keys (branch names, or "0", "1", ... for a
  // sequence): parameters are named by this path.
  // (Defined in block.cpp, where Block is complete: clang instantiates the
  // vector's members here otherwise.)
  virtual std::vector<std::pair<std::string, Block>> children() const;

  // Creates this block's own parameters for `input` and returns the output
  // spec. Called once per input spec by Block::build (which also checks
  // that a built block is not rebuilt for a different input).
  virtual FlowSpec build(const FlowSpec& input, BlockContext& context) = 0;
  virtual Flow forward(const Flow& input, RunContext& run) const = 0;

  // This block's own parameters by local name ("kernel", "bias").
  virtual std::vector<std::pair<std::string, ParameterPtr>> own_parameters() const { return {}; }
  // L2 regularisation: (parameter, factor) pairs; the loss adds
  // factor * sum(w^2) for each.
  virtual std::vector<std::pair<ParameterPtr, float>> regularizers() const { return {}; }

  // What the framework asks of a block type. Each answer defaults to the
  // safe one, so a new or user-defined type is never treated as more than
  // it declares.
  //
  // Whether, in training, each output row is computed from the same input
  // row alone and deterministically, children included (no dropout draw,
  // no batch statistics, no row mixing): UniqueRows then runs the block
  // once per distinct key, and drawn negatives go through such a candidate
  // tower apart from the batch. Composites answer from their children
  // (children_row_independent).
  virtual bool row_independent() const { return false; }
  // Whether, in training, the block may return one row per distinct key
  // instead of one per input row (UniqueRows): its one child is what runs
  // row by row.
  virtual bool merges_rows() const { return false; }
  // Whether the children are branches that each read the whole input, the
  // output keyed by branch name (ParallelBlock: a two-tower body's "query"
  // and "candidate" towers).
  virtual bool parallel_branches() const { return false; }
  // For a block that only multiplies its input by a constant
  // (LogitsTemperatureScaler: 1 / temperature): that constant, which the
  // block after it may fold into its own arithmetic (forward_scaled).
  virtual std::optional<float> input_scale() const { return std::nullopt; }
  // forward(input * scale), the scale folded in where the block can
  // (MLPBlock: into its first layer's GEMM, exact for a power of two,
  // without the scaled copy and its gradient pass); the default scales the
  // input (a tensor, or each entry of a dict) first.
  virtual Flow forward_scaled(const Flow& input, RunContext& run, float scale) const;

  bool built() const { return built_; }
  const FlowSpec& input_spec() const { return input_spec_; }
  const FlowSpec& output_spec() const { return output_spec_; }

 protected:
  // Whether every child is row_independent: a composite's answer.
  bool children_row_independent() const;

 private:
  friend class Block;
  bool built_ = false;
  FlowSpec input_spec_;
  FlowSpec output_spec_;
};

// ---------------------------------------------------------------------------
// Block: the handle users hold.
// ---------------------------------------------------------------------------

// What an eager call returns: a tensor or a name -> tensor map, printable.
class Output {
 public:
  Output() = default;
  explicit Output(Tensor tensor) : value_(std::move(tensor)) {}
  explicit Output(std::vector<std::pair<std::string, Tensor>> dict) : value_(std::move(dict)) {}

  bool is_tensor() const { return std::holds_alternative<Tensor>(value_); }
  const Tensor& tensor() const;  // throws for a dict, listing its keys
  const std::vector<std::pair<std::string, Tensor>>& dict() const;
  const Tensor& operator[](std::string_view key) const;  // dict entry
  std::vector<std::string> keys() const;
  const Shape& shape() const { return tensor().shape(); }
  std::string str(int edge_items = 3) const;

 private:
  std::variant<Tensor, std::vector<std::pair<std::string, Tensor>>> value_;
};
std::ostream& operator<<(std::ostream& os, const Output& output);

struct ShortcutOptions;  // below Block, which it holds

class Block {
 public:
  Block() = default;
  explicit Block(std::shared_ptr<BlockBase> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  BlockBase& impl() const;
  std::string_view type() const { return impl().type(); }

  // Builds for `input` (once; a second call must give the same spec).
  FlowSpec build(const FlowSpec& input, BlockContext& context) const;
  // Without a seed, each such build takes the next of a process-wide
  // sequence (0, 1, 2, ...), like Keras' global random state: blocks built
  // one after the other get different weights, reproducibly.
  FlowSpec build(const Schema& schema, std::optional<std::uint64_t> seed = std::nullopt) const;
  bool built() const { return impl_ && impl_->built(); }
  const FlowSpec& output_spec() const;
  // Runs on a tape (used by models and by composite blocks).
  Flow forward(const Flow& input, RunContext& run) const;

  // Eager call, as in Merlin: builds on first use (from the batch's schema),
  // runs in inference mode without gradients and returns the values.
  Output operator()(const Batch& batch) const;
  Output call(const Batch& batch, bool training) const;

  // The four connect methods.
  // this -> next, as a SequentialBlock.
  Block connect(const Block& next) const;
  // this -> ParallelBlock(branches) (named "0", "1", ... in order), with an
  // optional aggregation ("concat", "stack", "sum", "" for a dict).
  Block connect_branch(const std::vector<Block>& branches,
                       const std::string& aggregation = "") const;
  Block connect_branch(const std::vector<std::pair<std::string, Block>>& branches,
                       const std::string& aggregation = "") const;
  // this -> ParallelBlock({"shortcut": filter or identity, "block": block})
  // aggregated ("concat" by default): Merlin's connect_with_shortcut.
  Block connect_with_shortcut(const Block& block) const;
  Block connect_with_shortcut(const Block& block, const ShortcutOptions& options) const;
  // this -> input + block(input) (a dict input is concatenated first):
  // Merlin's connect_with_residual, without its optional activation.
  Block connect_with_residual(const Block& block) const;
  // this -> the task(s): a Model (model/model.h), as Merlin's
  // `deep.connect(task)`.
  Model connect(const PredictionTask& task) const;
  Model connect(const std::vector<PredictionTask>& tasks) const;

  // Parameters named by path ("1/dense_0/kernel"; shared tables
  // "embeddings/<domain>"), each once, in a stable order.
  std::vector<std::pair<std::string, ParameterPtr>> parameters() const;
  std::vector<std::pair<ParameterPtr, float>> regularizers() const;
  // The weights by parameter name (sharing storage) and back (copies;
  // errors name a missing, extra or mis-shaped tensor).
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state) const;

  // {"type": ..., "config": {...}, "children": [{"key": ..., "block": {...}}]}
  // A block used in several places is written once with an "id" and
  // referred to as {"ref": id} after that, so the rebuilt model shares it too.
  nlohmann::json to_json() const;
  // Rebuilds (unbuilt) from to_json's output through the registry; an
  // unknown type lists the registered ones, an unknown config key is
  // reported by name.
  static Block from_json(const nlohmann::json& json);

  // Shows the tree: type, key, output spec once built.
  std::string summary() const;

 protected:
  std::shared_ptr<BlockBase> impl_;
};

struct ShortcutOptions {
  // Applied to the input to make the shortcut; none = the input itself.
  std::optional<Block> shortcut_filter;
  // "concat" (default), "element-wise-sum", ... (see aggregation_block),
  // or "" (the dict {"block": ..., shortcut entries} is returned).
  std::string aggregation = "concat";
};

// ---------------------------------------------------------------------------
// Registry: block types by name, each registered explicitly
// (register_builtin_blocks in blocks/registry.cpp lists them all).
// ---------------------------------------------------------------------------

using BlockFactory = std::function<Block(const nlohmann::json& config,
                                         std::vector<std::pair<std::string, Block>> children)>;

// A type registered without docs lists no options in block_type_docs();
// register_block_type<Config> (blocks/config.h) passes its field table's.
void register_block_type(std::string name, BlockFactory factory);
void register_block_type(std::string name, BlockFactory factory,
                         std::vector<options::FieldDoc> options);
std::vector<std::string> registered_block_types();
// A block of a registered type made from its JSON config and its child
// blocks, which it holds (not copies: a child used elsewhere stays shared).
// Block::from_json does this for each node; the Python constructors call it.
// An unknown type lists the registered ones; config errors name the type.
Block make_block(const std::string& type, const nlohmann::json& config,
                 std::vector<std::pair<std::string, Block>> children = {});

// Every registered block type, by name, with its config keys (type, default
// and doc of each); `declared` is false for a type registered without docs.
struct BlockTypeDoc {
  std::string type;
  std::vector<options::FieldDoc> options;
  bool declared = false;
};
std::vector<BlockTypeDoc> block_type_docs();
// block_type_docs() as text: each type, then one line per key (what
// `recblocks blocks` prints).
std::string block_types_help();

}  // namespace recblocks
