// The step runner: which tensors bindStep finds (train_step, or accumulate_step with apply_step),
// each rank's dropout key, and that one micro-batch run through it trains trainPlan as the
// reference does, with every per-step input (rate, step number, key) written before each run.
#include "TestSupport.h"

#include "runtime/Executor.h"
#include "runtime/device/cpu/CpuDevice.h"
#include "runtime/trainer/StepRunner.h"

#include <cstring>

namespace nnrt::trainer {
namespace {

using test::makeSlice;
using test::makeTensor;

TEST(StepRunnerTest, RankKeysStartAtTheSeedAndDiffer) {
  EXPECT_EQ(rankRngKey(42, 0), 42u);
  EXPECT_NE(rankRngKey(42, 1), rankRngKey(42, 0));
  EXPECT_NE(rankRngKey(42, 2), rankRngKey(42, 1));
  EXPECT_NE(rankRngKey(43, 1), rankRngKey(42, 1));
}

TEST(StepRunnerTest, BindsTrainStep) {
  std::vector<nnc::TensorSlice> data;
  nnc::StatusOr<StepBinding> binding = bindStep(test::trainPlan(), "train.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  EXPECT_EQ(binding->function, "train_step");
  EXPECT_EQ(binding->learningRate.name(), "nnc.learning_rate");
  EXPECT_EQ(binding->loss.name(), "loss");
  EXPECT_FALSE(binding->apply);
  EXPECT_FALSE(binding->stepNumber);
  EXPECT_FALSE(binding->rngKey);
  EXPECT_EQ(binding->microBatches(), 1);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].name(), "x");
  EXPECT_EQ(data[1].name(), "y");
}

/// trainPlan with its step split as gradient accumulation over 4 micro-batches names it (the
/// commands do not matter for binding).
nnc::Plan accumulationPlan(bool withApply) {
  nnc::Plan plan = test::trainPlan();
  plan.mutable_training()->set_accumulation_steps(4);
  nnc::Function *step = plan.mutable_functions(1);
  step->set_name("accumulate_step");
  step->mutable_inputs()->RemoveLast();  // the rate goes to apply_step
  *step->add_inputs() = makeTensor("nnc.step", {}, 64);
  if (withApply) {
    nnc::Function *apply = plan.add_functions();
    apply->set_name("apply_step");
    *apply->add_inputs() = makeTensor("nnc.learning_rate", {}, 64);
    *apply->add_inputs() = makeTensor("nnc.step", {}, 68);
  }
  return plan;
}

TEST(StepRunnerTest, BindsAccumulation) {
  std::vector<nnc::TensorSlice> data;
  nnc::StatusOr<StepBinding> binding = bindStep(accumulationPlan(true), "acc.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  EXPECT_EQ(binding->function, "accumulate_step");
  ASSERT_TRUE(binding->apply);
  EXPECT_EQ(binding->microBatches(), 4);
  EXPECT_EQ(binding->apply->learningRate.name(), "nnc.learning_rate");
  ASSERT_TRUE(binding->apply->stepNumber);
  ASSERT_TRUE(binding->stepNumber);
  EXPECT_EQ(data.size(), 2u);

  data.clear();
  EXPECT_EQ(bindStep(accumulationPlan(false), "acc.plan", data).status().message(),
            "acc.plan: the plan has an accumulate_step but no apply_step");
  nnc::Plan extra = accumulationPlan(true);
  *extra.mutable_functions()->rbegin()->add_inputs() = makeTensor("mask", {}, 72);
  EXPECT_EQ(bindStep(extra, "acc.plan", data).status().message(),
            "acc.plan: function 'apply_step' has an unexpected input 'mask' [] f32");
}

/// Batch `index` of (N*2, 4) features or (N*2) labels.
HostTensor batchOf(const HostTensor &file, int64_t index) {
  Shape shape = file.shape;
  shape[0] = 2;
  HostTensor batch(file.dtype, shape);
  std::memcpy(batch.data.data(), file.data.data() + index * batch.data.size(), batch.data.size());
  return batch;
}

TEST(StepRunnerTest, MicroBatchesTrainAsTheReference) {
  std::vector<nnc::TensorSlice> data;
  nnc::Plan plan = test::trainPlan();
  nnc::StatusOr<StepBinding> binding = bindStep(plan, "train.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  binding->features = data[0];
  binding->labels = data[1];
  CpuDevice device;
  auto executor = Executor::prepare(std::move(plan), device);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  ASSERT_TRUE((*executor)->run("init").ok());

  HostTensor x = HostTensor::fromFloats({4, 4}, test::randomFloats(16, 7));
  std::vector<int64_t> labels = {2, -1, 0, 3};
  HostTensor y(nnc::I64, {4});
  std::memcpy(y.data.data(), labels.data(), y.data.size());
  std::vector<double> w(test::kTrainInitialW.begin(), test::kTrainInitialW.end());
  std::vector<double> want = test::referenceTraining(x.toFloats(), labels, 3, 0.05, w);

  StepRunner runner(**executor, 7, nullptr);
  for (int64_t step = 0; step < 3; ++step) {
    HostTensor xb = batchOf(x, step % 2), yb = batchOf(y, step % 2);
    nnc::StatusOr<float> loss = runner.runMicroBatch(*binding, {&xb, &yb, step + 1}, 0.05f);
    ASSERT_TRUE(loss.ok()) << loss.status().message();
    // f32 against double over 3 steps of 4-term sums: as TrainLoopTest's bound.
    EXPECT_NEAR(*loss, want[size_t(step)], 1e-5 * std::max(1.0, std::abs(want[size_t(step)])))
        << "step " << step;
  }
}

/// train_step copies nnc.step and nnc.rng_key to outputs, so a test can see what was fed.
nnc::Plan echoPlan() {
  nnc::Plan plan = test::makePlan(64);
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  *step->add_inputs() = makeTensor("x", {2}, 0);
  *step->add_inputs() = makeTensor("y", {2}, 8);
  *step->add_inputs() = makeTensor("nnc.learning_rate", {}, 16);
  *step->add_inputs() = makeTensor("nnc.step", {}, 20);
  *step->add_inputs() = makeTensor("nnc.rng_key", {}, 24, nnc::I64);
  *step->add_outputs() = makeTensor("loss", {}, 16);  // the rate itself
  *step->add_outputs() = makeTensor("step_seen", {}, 32);
  *step->add_outputs() = makeTensor("key_seen", {}, 40, nnc::I64);
  for (auto [src, dst, size] : {std::tuple{20, 32, 4}, std::tuple{24, 40, 8}}) {
    nnc::Command *copy = step->add_commands();
    *copy->mutable_copy()->mutable_src() = makeSlice(src, size);
    *copy->mutable_copy()->mutable_dst() = makeSlice(dst, size);
  }
  return plan;
}

TEST(StepRunnerTest, FeedsTheStepNumberAndTheSeedAsKey) {
  std::vector<nnc::TensorSlice> data;
  nnc::Plan plan = echoPlan();
  nnc::StatusOr<StepBinding> binding = bindStep(plan, "echo.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  binding->features = data[0];
  binding->labels = data[1];
  CpuDevice device;
  auto executor = Executor::prepare(std::move(plan), device);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  StepRunner runner(**executor, 1234, nullptr);  // one process: rank 0's key, the seed
  HostTensor x = HostTensor::fromFloats({2}, {1, 2}), y = HostTensor::fromFloats({2}, {3, 4});
  nnc::StatusOr<float> loss = runner.runMicroBatch(*binding, {&x, &y, 9}, 0.5f);
  ASSERT_TRUE(loss.ok()) << loss.status().message();
  EXPECT_EQ(*loss, 0.5f);
  const nnc::Function *step = (*executor)->function("train_step");
  EXPECT_EQ((*executor)->read(step->outputs(1))->toFloats()[0], 9.0f);
  HostTensor key = *(*executor)->read(step->outputs(2));
  int64_t seen = 0;
  std::memcpy(&seen, key.data.data(), sizeof seen);
  EXPECT_EQ(seen, 1234);
}

} // namespace
} // namespace nnrt::trainer
