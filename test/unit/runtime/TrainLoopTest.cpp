// The training loop: on the cpu driver, that trainPlan's losses and final weights follow the
// reference (so each step got its own batch, its labels and the learning rate, and the Copy
// commands wrote w back); and that features and labels are told apart, or refused, with one line
// naming the file at fault.
#include "TestSupport.h"

#include "runtime/Executor.h"
#include "runtime/trainer/TrainLoop.h"
#include "runtime/device/cpu/CpuDevice.h"

namespace nnrt {
namespace {

using test::makeTensor;

HostTensor i64Tensor(Shape shape, const std::vector<int64_t> &values) {
  HostTensor tensor(nnc::I64, std::move(shape));
  if (!values.empty())
    std::memcpy(tensor.data.data(), values.data(),
                std::min(tensor.data.size(), values.size() * sizeof(int64_t)));
  return tensor;
}

/// Three batches of trainPlan's (x, y).
TrainData threeBatches() {
  TrainData data;
  data.features = HostTensor::fromFloats({6, 4}, test::randomFloats(24, 11));
  data.labels = i64Tensor({6}, {1, -2, 3, 0, 2, -1});
  data.featuresPath = "x.npy";
  data.labelsPath = "y.npy";
  return data;
}

/// Trains trainPlan on the cpu; returns the losses, and the final w through `w`.
std::vector<float> trainOnCpu(const TrainData &data, int64_t steps, float learningRate,
                              std::vector<float> &w) {
  nnc::Plan plan = test::trainPlan();
  auto binding = bindTrainStep(plan, "train.plan", data);
  EXPECT_TRUE(binding.ok()) << binding.status().message();
  if (!binding.ok())
    return {};
  EXPECT_EQ(binding->features.name(), "x");
  EXPECT_EQ(binding->labels.name(), "y");
  EXPECT_EQ(batchCount(*binding, data), 3);
  CpuDevice device;
  auto executor = Executor::prepare(std::move(plan), device);
  EXPECT_TRUE(executor.ok()) << executor.status().message();
  if (!executor.ok())
    return {};
  EXPECT_TRUE((*executor)->run("init").ok());
  TrainOptions options;
  options.steps = steps;
  options.learningRate = learningRate;
  std::vector<float> losses;
  nnc::Status status = train(**executor, *binding, data, options, [&](int64_t step, float loss) {
    EXPECT_EQ(step, int64_t(losses.size()));
    losses.push_back(loss);
  });
  EXPECT_TRUE(status.ok()) << status.message();
  w = (*executor)->getParameter("w")->toFloats();
  return losses;
}

TEST(TrainLoopTest, EachStepGetsItsBatchAndTheLearningRate) {
  TrainData data = threeBatches();
  std::vector<int64_t> labels = {1, -2, 3, 0, 2, -1};
  for (float learningRate : {0.1f, 0.0f}) {
    std::vector<float> w;
    std::vector<float> losses = trainOnCpu(data, 7, learningRate, w); // wraps round the batches
    std::vector<double> wantW(test::kTrainInitialW.begin(), test::kTrainInitialW.end());
    std::vector<double> want =
        test::referenceTraining(data.features.toFloats(), labels, 7, learningRate, wantW);
    ASSERT_EQ(losses.size(), want.size());
    // f32 against double over 7 steps of 4-term sums of values below ~5: 1e-5 relative is far
    // above the rounding and far below what a wrong batch, label or rate would change.
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(losses[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i])))
          << "lr " << learningRate << ", step " << i;
    ASSERT_EQ(w.size(), 4u);
    for (size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(w[j], wantW[j], 1e-5) << "lr " << learningRate << ", w[" << j << "]";
  }
  // With rate 0 nothing learns, so steps 0 and 3 (both batch 0) see the same loss.
  std::vector<float> w;
  std::vector<float> frozen = trainOnCpu(data, 4, 0.0f, w);
  ASSERT_EQ(frozen.size(), 4u);
  EXPECT_EQ(frozen[0], frozen[3]);
  EXPECT_NE(frozen[0], frozen[1]);
  EXPECT_EQ(w, test::kTrainInitialW);
}

/// A train_step with two inputs of one type, for the binding rules alone (it never runs).
nnc::Plan tokensPlan(bool withPredict) {
  nnc::Plan plan = test::makePlan(256);
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  *step->add_inputs() = makeTensor("targets", {2, 3}, 0, nnc::I64);
  *step->add_inputs() = makeTensor("nnc.learning_rate", {}, 48);
  *step->add_inputs() = makeTensor("tokens", {2, 3}, 64, nnc::I64);
  *step->add_outputs() = makeTensor("loss", {}, 112);
  if (withPredict) {
    nnc::Function *predict = plan.add_functions();
    predict->set_name("predict");
    *predict->add_inputs() = makeTensor("tokens", {2, 3}, 64, nnc::I64);
  }
  return plan;
}

TEST(TrainLoopTest, PredictsInputNamesTheFeatures) {
  TrainData data;
  data.features = i64Tensor({4, 3}, {});
  data.labels = i64Tensor({4, 3}, {});
  auto binding = bindTrainStep(tokensPlan(true), "gpt.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  EXPECT_EQ(binding->features.name(), "tokens");
  EXPECT_EQ(binding->labels.name(), "targets");
  EXPECT_EQ(binding->learningRate.name(), "nnc.learning_rate");
  EXPECT_EQ(binding->loss.name(), "loss");
  EXPECT_EQ(batchCount(*binding, data), 2);

  data.featuresPath = "tokens.npy";
  data.labelsPath = "targets.npy";
  EXPECT_EQ(bindTrainStep(tokensPlan(false), "gpt.plan", data).status().message(),
            "gpt.plan: cannot tell which train_step input takes the features: 'targets' [2,3] "
            "i64 and 'tokens' [2,3] i64 both fit both files, and no predict input is named like "
            "one of them");
}

TEST(TrainLoopTest, TypesNameTheFeaturesWithoutPredict) {
  nnc::Plan plan = test::trainPlan();
  plan.mutable_functions()->RemoveLast(); // predict
  // Labels first: the order of train_step's inputs must not matter.
  nnc::Function *step = plan.mutable_functions(1);
  step->mutable_inputs()->SwapElements(0, 1);
  TrainData data = threeBatches();
  auto binding = bindTrainStep(plan, "train.plan", data);
  ASSERT_TRUE(binding.ok()) << binding.status().message();
  EXPECT_EQ(binding->features.name(), "x");
  EXPECT_EQ(binding->labels.name(), "y");

  data.features = HostTensor::fromFloats({6, 5}, {});
  EXPECT_EQ(bindTrainStep(plan, "train.plan", data).status().message(),
            "x.npy: [6,5] f32 is neither train_step input stacked along axis 0 ('y' [2] i64, 'x' "
            "[2,4] f32)");
  // The features fit only x, so the labels must fit y.
  data = threeBatches();
  data.labels = HostTensor(nnc::I64, {6, 1});
  EXPECT_EQ(bindTrainStep(plan, "train.plan", data).status().message(),
            "y.npy: expected [N*2] i64 (batches of train_step input 'y' [2] i64 stacked along "
            "axis 0), got [6,1] i64");
  // Features that fit both inputs leave the labels to blame.
  data.features = i64Tensor({4, 3}, {});
  data.labels = i64Tensor({4, 5}, {});
  EXPECT_EQ(bindTrainStep(tokensPlan(false), "gpt.plan", data).status().message(),
            "y.npy: [4,5] i64 is neither train_step input stacked along axis 0 ('targets' [2,3] "
            "i64, 'tokens' [2,3] i64)");
}

std::string bindError(const nnc::Plan &plan, const TrainData &data) {
  auto binding = bindTrainStep(plan, "train.plan", data);
  return binding.ok() ? "(bound)" : binding.status().message();
}

TEST(TrainLoopTest, RefusesDataThatDoesNotFit) {
  nnc::Plan plan = test::trainPlan();
  TrainData data = threeBatches();
  data.features = HostTensor::fromFloats({6, 3}, {});
  EXPECT_EQ(bindError(plan, data), "x.npy: expected [N*2,4] f32 (batches of train_step input 'x' "
                                   "[2,4] f32 stacked along axis 0), got [6,3] f32");
  data.features = HostTensor(nnc::I64, {6, 4});
  EXPECT_EQ(bindError(plan, data), "x.npy: expected [N*2,4] f32 (batches of train_step input 'x' "
                                   "[2,4] f32 stacked along axis 0), got [6,4] i64");
  data = threeBatches();
  std::swap(data.features, data.labels); // predict names x the features, whatever the types say
  EXPECT_EQ(bindError(plan, data), "x.npy: expected [N*2,4] f32 (batches of train_step input 'x' "
                                   "[2,4] f32 stacked along axis 0), got [6] i64");
  data = threeBatches();
  data.labels = HostTensor(nnc::I64, {6, 1});
  EXPECT_EQ(bindError(plan, data), "y.npy: expected [N*2] i64 (batches of train_step input 'y' "
                                   "[2] i64 stacked along axis 0), got [6,1] i64");
  data = threeBatches();
  data.features = HostTensor::fromFloats({5, 4}, {});
  EXPECT_EQ(bindError(plan, data), "x.npy: 5 rows are not a whole number of batches of 2 "
                                   "(train_step input 'x' [2,4] f32)");
  data.features = HostTensor::fromFloats({0, 4}, {});
  EXPECT_EQ(bindError(plan, data), "x.npy: holds no batch (0 rows)");
  data.features = HostTensor::fromFloats({8, 4}, {});
  EXPECT_EQ(bindError(plan, data), "y.npy: holds 3 batches of train_step input 'y' [2] i64 but "
                                   "x.npy holds 4");
}

TEST(TrainLoopTest, RefusesPlansItCannotFeed) {
  TrainData data = threeBatches();
  nnc::Plan plan = test::trainPlan();
  plan.mutable_functions(1)->set_name("eval_step");
  EXPECT_EQ(bindError(plan, data), "train.plan: the plan has no function 'train_step'");

  plan = test::trainPlan();
  plan.mutable_functions(1)->mutable_inputs()->RemoveLast();
  EXPECT_EQ(bindError(plan, data),
            "train.plan: function 'train_step' has no input 'nnc.learning_rate'");

  plan = test::trainPlan();
  *plan.mutable_functions(1)->mutable_inputs(2) = makeTensor("nnc.learning_rate", {2}, 64);
  EXPECT_EQ(bindError(plan, data), "train.plan: function 'train_step' input 'nnc.learning_rate' "
                                   "[2] f32 should be one f32 (the learning rate)");

  plan = test::trainPlan();
  *plan.mutable_functions(1)->mutable_outputs(0) = makeTensor("loss", {}, 88, nnc::I64);
  EXPECT_EQ(bindError(plan, data), "train.plan: function 'train_step' output 'loss' [] i64 should "
                                   "be one f32 (the loss)");
  plan.mutable_functions(1)->clear_outputs();
  EXPECT_EQ(bindError(plan, data),
            "train.plan: function 'train_step' has no outputs (the loss comes first)");

  plan = test::trainPlan();
  *plan.mutable_functions(1)->add_inputs() = makeTensor("mask", {2}, 68);
  EXPECT_EQ(bindError(plan, data), "train.plan: function 'train_step' has 3 inputs besides "
                                   "nnc.learning_rate, nnc.step and nnc.rng_key ('x' [2,4] f32, 'y' [2] i64, "
                                   "'mask' [2] "
                                   "f32); --train feeds two, features and labels");

  plan = test::trainPlan();
  *plan.mutable_functions(1)->mutable_inputs(1) = makeTensor("y", {}, 48, nnc::I64);
  EXPECT_EQ(bindError(plan, data),
            "train.plan: function 'train_step' input 'y' [] i64 has no batch dimension");
  *plan.mutable_functions(1)->mutable_inputs(1) = makeTensor("y", {0}, 48, nnc::I64);
  EXPECT_EQ(bindError(plan, data),
            "train.plan: function 'train_step' input 'y' [0] i64 has no batch dimension");
}

} // namespace
} // namespace nnrt
