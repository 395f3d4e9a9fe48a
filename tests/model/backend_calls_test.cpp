// Every computation of a training step goes through the Backend: one fit
// step of each prebuilt model (and the seed's custom DLRM) under a backend
// that wraps the CPU one (testing/hooked_backend.h). It sees the linear
// layers, embeddings, losses and optimizer updates; the weights and the
// optimizer's state change only while one of its calls runs; and a backend
// that refuses every call stops the step before anything changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model_testing.h"
#include "recblocks/data/sequences.h"
#include "recblocks/kernels/backend.h"
#include "recblocks/model/ranking.h"
#include "recblocks/model/retrieval.h"
#include "testing/hooked_backend.h"

namespace recblocks {
namespace {

using testing::HookedBackend;
using testing::OneThread;
using testing::planted_dataset;

std::vector<PredictionTask> binary_task() { return {BinaryClassificationTask("rating_binary")}; }

// Sequences of the 30 movies of planted_dataset's schema, with a history
// column (USER) for YoutubeDNN.
Dataset sequences() {
  const Schema schema({
      ColumnSchema("userId", DType::kInt32, {Tags::CATEGORICAL, Tags::USER_ID}).with_domain(0, 9),
      ColumnSchema("movieId", DType::kInt32, {Tags::CATEGORICAL, Tags::ITEM_ID})
          .with_domain(0, 29, "movieId"),
      ColumnSchema("timestamp", DType::kInt64, {Tags::TIME}),
  });
  std::vector<std::int32_t> user, item;
  std::vector<std::int64_t> time;
  for (std::int32_t u = 0; u < 10; ++u) {
    for (std::int64_t t = 0; t < 8; ++t) {
      user.push_back(u);
      item.push_back(static_cast<std::int32_t>((u * 7 + t * 3) % 30));
      time.push_back(t);
    }
  }
  const auto rows = static_cast<std::int64_t>(user.size());
  const Dataset data(schema, {{"userId", Column{Tensor::from<std::int32_t>({rows}, user), {}}},
                              {"movieId", Column{Tensor::from<std::int32_t>({rows}, item), {}}},
                              {"timestamp", Column{Tensor::from<std::int64_t>({rows}, time), {}}}});
  return datasets::add_history(data, {.max_length = 2});
}

struct Case {
  std::string name;
  std::function<Model(const Schema&)> make;
  bool sequences = false;
  // Operations its training step must call, besides those of every model.
  std::vector<std::string> ops;
};

const std::vector<std::string> kEveryModel = {
    "embedding_bag_forward", "embedding_bag_backward", "find_out_of_range",
    "find_non_finite",       "optimizer_update_rows",
};
const std::vector<std::string> kRanking = {"linear_forward", "linear_backward",
                                           "bce_with_logits_forward", "bce_with_logits_backward",
                                           "optimizer_update"};
const std::vector<std::string> kRetrieval = {"retrieval_loss_forward", "retrieval_loss_backward"};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"dlrm",
       [](const Schema& s) {
         return DLRMModel(s, {.embedding_dim = 4,
                              .bottom_block = MLPBlock({4}),
                              .top_block = MLPBlock({8}),
                              .prediction_tasks = binary_task()});
       },
       false,
       kRanking + std::vector<std::string>{"dot_interaction_forward", "dot_interaction_backward"}},
      {"dcn",
       [](const Schema& s) {
         return DCNModel(
             s, {.depth = 2, .deep_block = MLPBlock({8}), .prediction_tasks = binary_task()});
       },
       false, kRanking},
      {"deepfm",
       [](const Schema& s) {
         return DeepFMModel(
             s,
             {.embedding_dim = 4, .deep_block = MLPBlock({8}), .prediction_tasks = binary_task()});
       },
       false, kRanking},
      {"wide_and_deep",
       [](const Schema& s) {
         // Set field by field: GCC 12 warns (maybe-uninitialized) on the
         // nested designated initializer inside this lambda.
         WideAndDeepOptions o;
         o.crosses.num_bins = 50;
         o.deep_block = MLPBlock({8});
         o.embedding_options.dim = 4;
         o.prediction_tasks = binary_task();
         return WideAndDeepModel(s, o);
       },
       false, kRanking},
      {"seed_dlrm",
       [](const Schema& s) { return testing::small_dlrm_body(s, 4).connect(testing::seed_task()); },
       false,
       kRanking + std::vector<std::string>{"dot_interaction_forward", "dot_interaction_backward"}},
      {"matrix_factorization",
       [](const Schema& s) { return MatrixFactorizationModel(s, {.dim = 4}); }, false, kRetrieval},
      {"two_tower",
       [](const Schema& s) {
         return TwoTowerModel(s, {.query_tower = MLPBlock({4}), .embedding_options = {.dim = 4}});
       },
       false,
       kRetrieval +
           std::vector<std::string>{"linear_forward", "linear_backward", "optimizer_update"}},
      {"youtube_dnn",
       [](const Schema& s) {
         return YoutubeDNNRetrievalModel(
             s, {.top_block = MLPBlock({4}), .embedding_options = {.dim = 4}, .num_sampled = 5});
       },
       true,
       kRetrieval +
           std::vector<std::string>{"linear_forward", "linear_backward", "optimizer_update"}},
  };
  return all;
}

// A model of `c` built on its data and compiled with LazyAdam (dense
// parameters by optimizer_update, tables by optimizer_update_rows, in
// step() and, from the second step, fused in the backward).
struct Built {
  Dataset data;
  Model model;
};
Built build(const Case& c) {
  Dataset data = c.sequences ? sequences() : planted_dataset(64, 3);
  Model model = c.make(data.schema());
  model.build(data.schema(), 1);
  model.compile(optim::LazyAdam({.learning_rate = 0.01f}));
  return {std::move(data), std::move(model)};
}

// Two steps of one epoch.
FitOptions two_steps(const Dataset& data) {
  return {.batch_size = (data.num_rows() + 1) / 2, .epochs = 1, .progress = false};
}

// The bytes of every weight and optimizer slot (not the step counter).
std::vector<std::byte> snapshot(const Model& model) {
  std::vector<std::byte> out;
  auto add = [&](const Tensor& t) {
    const auto* p = static_cast<const std::byte*>(t.raw());
    out.insert(out.end(), p, p + t.nbytes());
  };
  for (const auto& [name, p] : model.parameters()) add(p->value());
  for (const auto& [name, t] : model.optimizer().state()) {
    if (name != "iterations") add(t);
  }
  return out;
}

// Trains `b` with `options` under a backend that counts each operation's
// calls and compares the weights and optimizer slots before each call with
// what they were after the previous one.
struct Watched {
  std::map<std::string, int> calls;
  int changes_outside = 0;     // calls before which something had changed
  bool changed_after = false;  // something changed after the last call
};
Watched watch_fit(Built& b, const FitOptions& options) {
  Watched w;
  int depth = 0;
  std::vector<std::byte> after_last;
  bool watching = false;
  HookedBackend hooked(
      kernels::backend(),
      [&](const char* op) {
        ++w.calls[op];
        if (depth++ == 0 && watching && snapshot(b.model) != after_last) ++w.changes_outside;
      },
      [&](const char*) {
        if (--depth == 0) {
          after_last = snapshot(b.model);
          watching = true;
        }
      });
  kernels::ScopedBackend scope(Device::kCpu, hooked);
  b.model.fit(b.data, options);
  w.changed_after = snapshot(b.model) != after_last;
  return w;
}

TEST(BackendCalls, EveryModelsTrainingStepGoesThroughTheBackend) {
  OneThread one_thread;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Built b = build(c);
    const std::vector<std::byte> before = snapshot(b.model);
    Watched w = watch_fit(b, two_steps(b.data));
    EXPECT_NE(snapshot(b.model), before);  // it trained
    // Between two calls, and after the last, nothing changed a weight or
    // an optimizer slot.
    EXPECT_EQ(w.changes_outside, 0);
    EXPECT_FALSE(w.changed_after);
    EXPECT_EQ(b.model.optimizer().iterations(), 2);
    for (const std::string& op : kEveryModel + c.ops) {
      EXPECT_GT(w.calls[op], 0) << op << " was not called";
    }
    // The scope is gone: the CPU backend is back.
    EXPECT_STREQ(kernels::backend().name(), "cpu");
  }
}

// The watch above can fail: a weight changed by hand between two steps (a
// callback) is seen at the next call.
TEST(BackendCalls, TheWatchSeesAWeightChangedOutsideTheBackend) {
  OneThread one_thread;
  struct Nudge : Callback {
    void on_batch_end(Model& model, std::int64_t step, const Logs&) override {
      if (step == 1) model.parameters().front().second->value().data<float>()[0] += 1.0f;
    }
  };
  Built b = build(cases().front());
  FitOptions options = two_steps(b.data);
  options.callbacks = {std::make_shared<Nudge>()};
  EXPECT_EQ(watch_fit(b, options).changes_outside, 1);
}

struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

TEST(BackendCalls, ABackendThatRefusesEveryCallStopsEveryModelBeforeAnythingChanges) {
  OneThread one_thread;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    Built b = build(c);
    const std::vector<std::byte> before = snapshot(b.model);
    int refused = 0;
    HookedBackend refusing(kernels::backend(), [&](const char* op) {
      ++refused;
      throw Refused(op);
    });
    {
      kernels::ScopedBackend scope(Device::kCpu, refusing);
      EXPECT_THROW(b.model.fit(b.data, two_steps(b.data)), Refused);
    }
    EXPECT_EQ(refused, 1);  // the first computation already asked the backend
    EXPECT_EQ(snapshot(b.model), before);
    EXPECT_EQ(b.model.optimizer().iterations(), 0);
  }
}

// Refusing one operation only (the optimizer's update of the tables, the
// retrieval loss) stops the step at that operation: nothing computes it
// around the backend.
TEST(BackendCalls, RefusingOneOperationStopsTheStepThere) {
  OneThread one_thread;
  for (const std::string refused_op :
       {"optimizer_update_rows", "optimizer_update", "retrieval_loss_forward", "find_non_finite"}) {
    for (const Case& c : cases()) {
      const auto& ops = kEveryModel + c.ops;
      if (std::find(ops.begin(), ops.end(), refused_op) == ops.end()) continue;
      SCOPED_TRACE(c.name + " without " + refused_op);
      Built b = build(c);
      HookedBackend refusing(kernels::backend(), [&](const char* op) {
        if (op == refused_op) throw Refused(op);
      });
      kernels::ScopedBackend scope(Device::kCpu, refusing);
      EXPECT_THROW(b.model.fit(b.data, two_steps(b.data)), Refused);
      EXPECT_EQ(b.model.optimizer().iterations(), 0);
    }
  }
}

TEST(BackendCalls, ScopedBackendsNestAndRestore) {
  kernels::Backend& cpu = kernels::backend();
  int outer_calls = 0, inner_calls = 0;
  HookedBackend outer(cpu, [&](const char*) { ++outer_calls; });
  HookedBackend inner(cpu, [&](const char*) { ++inner_calls; });
  const Tensor x = Tensor::from({2}, {1.0f, NAN});
  {
    kernels::ScopedBackend a(Device::kCpu, outer);
    EXPECT_EQ(&kernels::backend(), &outer);
    {
      kernels::ScopedBackend b(Device::kCpu, inner);
      EXPECT_EQ(kernels::backend().find_non_finite(x), 1);
    }
    EXPECT_EQ(&kernels::backend(), &outer);
    EXPECT_EQ(kernels::backend().find_non_finite(x), 1);
  }
  EXPECT_EQ(&kernels::backend(), &cpu);
  EXPECT_EQ(outer_calls, 1);
  EXPECT_EQ(inner_calls, 1);
}

}  // namespace
}  // namespace recblocks
