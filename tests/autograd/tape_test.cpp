#include "recblocks/autograd/tape.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "recblocks/autograd/ops.h"
#include "testing/tensor_testing.h"

namespace recblocks {
namespace {

using ::testing::HasSubstr;
using testing::uniform;

TEST(Tape, LeavesAndRecordedNodes) {
  Parameter w("w", uniform({2, 2}, 1));
  Parameter frozen("frozen", uniform({2}, 2), /*trainable=*/false);
  Tape tape;
  Var c = tape.constant(uniform({2, 2}, 3));
  Var p = tape.parameter(w);
  Var f = tape.parameter(frozen);
  EXPECT_FALSE(c.requires_grad());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_FALSE(f.requires_grad());
  EXPECT_EQ(tape.parameter_of(p.id()), &w);
  EXPECT_EQ(tape.parameter_of(c.id()), nullptr);
  EXPECT_EQ(p.value().raw(), w.value().raw()) << "a parameter leaf shares the parameter's storage";
  Var y = ops::add(c, p);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(ops::add(c, f).requires_grad());
  EXPECT_EQ(tape.size(), 5u);
  ASSERT_EQ(tape.inputs(y.id()).size(), 2u);
  EXPECT_EQ(tape.inputs(y.id())[0], c.id());
  EXPECT_EQ(tape.inputs(y.id())[1], p.id());
}

TEST(Tape, BackwardSetsParameterAndIntermediateGradients) {
  Parameter w("w", Tensor::from({3}, {1, 2, 3}));
  Tape tape;
  Var x = tape.parameter(w);
  Var y = ops::mul(x, tape.constant(Tensor::from({3}, {4, 5, 6})));
  Var loss = ops::sum_all(y);
  tape.backward(loss);
  EXPECT_TRUE(w.has_dense_grad());
  EXPECT_EQ(w.dense_grad().to_vector(), (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(loss.grad().item(), 1.0);
}

TEST(Tape, VarUsedTwiceAccumulates) {
  Parameter w("w", Tensor::from({2}, {3, -1}));
  Tape tape;
  Var x = tape.parameter(w);
  Var h = ops::scale(x, 2.0f);
  // loss = sum(h * h + h) -> dloss/dx = (2h + 1) * 2
  tape.backward(ops::sum_all(ops::add(ops::mul(h, h), h)));
  EXPECT_EQ(w.dense_grad().to_vector(), (std::vector<float>{(2 * 6 + 1) * 2, (2 * -2 + 1) * 2}));
}

TEST(Tape, ParameterUsedThroughTwoLeavesAccumulates) {
  Parameter w("w", Tensor::from({2}, {1, 2}));
  Tape tape;
  Var a = tape.parameter(w);
  Var b = tape.parameter(w);
  Var loss = ops::sum_all(ops::add(ops::scale(a, 3.0f), ops::scale(b, 5.0f)));
  tape.backward(loss);
  EXPECT_EQ(w.dense_grad().to_vector(), (std::vector<float>{8, 8}));
}

TEST(Tape, BackwardWithoutZeroGradAccumulatesAcrossSteps) {
  Parameter w("w", Tensor::from({2}, {1, 2}));
  Tape tape;
  for (int step = 0; step < 2; ++step) {
    tape.backward(ops::sum_all(ops::scale(tape.parameter(w), 3.0f)));
    tape.reset();
  }
  EXPECT_EQ(w.dense_grad().to_vector(), (std::vector<float>{6, 6}));
  // zero_grad: the next backward overwrites, even though the buffer holds 6.
  w.zero_grad();
  EXPECT_FALSE(w.has_grad());
  EXPECT_EQ(w.grad_as_dense().to_vector(), (std::vector<float>{0, 0}));
  tape.backward(ops::sum_all(ops::scale(tape.parameter(w), 3.0f)));
  EXPECT_EQ(w.dense_grad().to_vector(), (std::vector<float>{3, 3}));
}

TEST(Tape, ZeroGradClearsSparseGradients) {
  Parameter table("table", uniform({5, 2}, 4));
  Tape tape;
  tape.backward(ops::sum_all(ops::embedding(tape.parameter(table), testing::ids64({1, 3}))));
  EXPECT_TRUE(table.has_grad());
  EXPECT_EQ(table.sparse_grads().size(), 1u);
  // Two lookups in one step: two segments, both reach grad_as_dense().
  table.zero_grad();
  tape.reset();
  Var t = tape.parameter(table);
  tape.backward(ops::sum_all(ops::add(ops::embedding(t, testing::ids64({1, 3})),
                                      ops::embedding(t, testing::ids64({3, 0})))));
  EXPECT_EQ(table.sparse_grads().size(), 2u);
  EXPECT_EQ(table.grad_as_dense().to_vector(), (std::vector<float>{1, 1, 1, 1, 0, 0, 2, 2, 0, 0}));
  table.zero_grad();
  EXPECT_FALSE(table.has_grad());
  EXPECT_TRUE(table.sparse_grads().empty());
}

TEST(Tape, HierarchicalParameterNamesReachGradients) {
  Parameter k0("top_mlp/0/kernel", uniform({3, 2}, 5)), b0("top_mlp/0/bias", uniform({2}, 6));
  Parameter k1("top_mlp/1/kernel", uniform({2, 1}, 7));
  Tape tape;
  Var x = tape.constant(uniform({4, 3}, 8));
  Var h = ops::linear(x, tape.parameter(k0), tape.parameter(b0), kernels::Activation::kRelu);
  Var y = ops::linear(h, tape.parameter(k1));
  tape.backward(ops::mean_all(y));
  std::vector<std::string> names;
  for (std::int32_t i = 0; i < static_cast<std::int32_t>(tape.size()); ++i) {
    if (Parameter* p = tape.parameter_of(i); p != nullptr && p->has_grad())
      names.push_back(p->name());
  }
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("top_mlp/0/kernel", "top_mlp/0/bias",
                                                     "top_mlp/1/kernel"));
  EXPECT_EQ(k0.dense_grad().shape(), Shape({3, 2}));
  EXPECT_EQ(b0.dense_grad().shape(), Shape({2}));
}

TEST(Tape, NoGradGuardRecordsNothingThatNeedsGradients) {
  Parameter w("w", uniform({3}, 9));
  Tape tape;
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    {
      NoGradGuard nested;
      EXPECT_FALSE(grad_enabled());
    }
    EXPECT_FALSE(grad_enabled());
    Var p = tape.parameter(w);
    EXPECT_FALSE(p.requires_grad());
    Var y = ops::relu(ops::scale(p, 2.0f));
    EXPECT_FALSE(y.requires_grad());
    for (std::int64_t i = 0; i < 3; ++i) {
      EXPECT_FLOAT_EQ(y.value().data<float>()[i],
                      std::max(0.0f, 2.0f * w.value().data<float>()[i]));
    }
    Var loss = ops::sum_all(y);
    EXPECT_THROW(tape.backward(loss), Error);
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_FALSE(w.has_grad());
}

TEST(Tape, BackwardOnNonScalarLossThrows) {
  Parameter w("w", uniform({2, 3}, 10));
  Tape tape;
  Var y = ops::scale(tape.parameter(w), 2.0f);
  try {
    tape.backward(y);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("backward"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
}

TEST(Tape, BackwardOnConstantLossThrows) {
  Tape tape;
  Var loss = ops::sum_all(tape.constant(uniform({3}, 11)));
  EXPECT_THROW(tape.backward(loss), ValueError);
}

TEST(Tape, VarsFromAnotherTapeAreRejected) {
  Tape a, b;
  Var x = a.constant(Tensor::zeros({2}));
  Var y = b.constant(Tensor::zeros({2}));
  EXPECT_THROW(ops::add(x, y), ValueError);
}

TEST(Tape, ResetForgetsNodesAndReusesCapacity) {
  Parameter w("w", uniform({64, 32}, 12));
  Tape tape;
  auto step = [&] {
    Var x = tape.constant(uniform({16, 64}, 13));
    Var h = ops::relu(ops::matmul(x, tape.parameter(w)));
    Var loss = ops::mean_all(h);
    tape.backward(loss);
    return h.value().raw();
  };
  const void* first = step();
  const std::size_t nodes = tape.size();
  EXPECT_GT(nodes, 0u);
  EXPECT_GT(tape.arena().used(), 0u);
  tape.reset();
  EXPECT_EQ(tape.size(), 0u);
  EXPECT_EQ(tape.arena().used(), 0u);
  const std::size_t capacity = tape.arena().capacity();
  w.zero_grad();
  const void* second = step();
  EXPECT_EQ(second, first) << "the same step reuses the same arena memory";
  EXPECT_EQ(tape.size(), nodes);
  EXPECT_EQ(tape.arena().capacity(), capacity);
}

TEST(Tape, RecordStoresOpNameArgsAndInputs) {
  Tape tape;
  Var x = tape.constant(Tensor::zeros({2}));
  Parameter w("w", Tensor::zeros({2}));
  Var p = tape.parameter(w);
  OpArgs args;
  args.f[0] = 1.5f;
  args.i[1] = 7;
  Var y = tape.record(
      "my_op", tape.arena().zeros({2}), {x, p}, [](Tape&, std::int32_t) {}, args);
  EXPECT_STREQ(tape.op_name(y.id()), "my_op");
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(tape.args(y.id()).f[0], 1.5f);
  EXPECT_EQ(tape.args(y.id()).i[1], 7);
  EXPECT_EQ(tape.inputs(y.id()).size(), 2u);
}

TEST(Tape, GradOutOverwritesFirstThenAccumulates) {
  Parameter w("w", Tensor::zeros({3}));
  Tape tape;
  Var x = tape.constant(Tensor::zeros({3}));
  Var p = tape.parameter(w);
  Var y = ops::add(x, p);
  kernels::GradOut first = tape.grad_out(y.id());
  EXPECT_TRUE(first.wanted());
  EXPECT_FALSE(first.accumulate);
  EXPECT_EQ(first.tensor.shape(), Shape({3}));
  kernels::GradOut second = tape.grad_out(y.id());
  EXPECT_TRUE(second.accumulate);
  EXPECT_EQ(second.tensor.raw(), first.tensor.raw());
  EXPECT_FALSE(tape.grad_out(x.id()).wanted());
}

}  // namespace
}  // namespace recblocks
