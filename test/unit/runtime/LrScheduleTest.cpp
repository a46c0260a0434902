// The learning-rate schedules against their formulas at specific steps: warm-up, cosine, step
// decay, reduce-on-plateau and their checks.
#include "runtime/trainer/LrSchedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace nnrt::trainer {
namespace {

// The schedule computes in double; 1e-12 relative leaves room only for rounding.
constexpr double kTolerance = 1e-12;

TEST(LrScheduleTest, ConstantIgnoresStepAndEpoch) {
  ScheduleConfig config;
  config.lr = 0.01;
  LrSchedule schedule(config);
  EXPECT_EQ(schedule.at(0, 0), 0.01);
  EXPECT_EQ(schedule.at(12345, 17), 0.01);
}

TEST(LrScheduleTest, WarmupRisesLinearlyFromOneHundredth) {
  ScheduleConfig config;
  config.lr = 0.1;
  config.warmupSteps = 10;
  LrSchedule schedule(config);
  EXPECT_NEAR(schedule.at(0, 0), 0.001, kTolerance);
  EXPECT_NEAR(schedule.at(5, 0), 0.001 + (0.1 - 0.001) * 0.5, kTolerance);
  EXPECT_NEAR(schedule.at(9, 0), 0.001 + (0.1 - 0.001) * 0.9, kTolerance);
  EXPECT_EQ(schedule.at(10, 0), 0.1);
}

TEST(LrScheduleTest, CosineAnnealsToMinAfterWarmup) {
  ScheduleConfig config;
  config.kind = nnc::LRSchedule::WARMUP_COSINE;
  config.lr = 1e-3;
  config.minLr = 1e-5;
  config.warmupSteps = 100;
  config.totalSteps = 1100;
  LrSchedule schedule(config);
  EXPECT_NEAR(schedule.at(0, 0), 1e-5, kTolerance);
  EXPECT_NEAR(schedule.at(100, 0), 1e-3, kTolerance);
  // Halfway through the 1000 cosine steps: the mean of lr and minLr.
  EXPECT_NEAR(schedule.at(600, 3), (1e-3 + 1e-5) / 2, kTolerance);
  double quarter = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + std::cos(M_PI * 0.25));
  EXPECT_NEAR(schedule.at(350, 1), quarter, kTolerance);
  EXPECT_NEAR(schedule.at(1100, 9), 1e-5, kTolerance);
}

TEST(LrScheduleTest, StepDecayEveryStepSizeEpochs) {
  ScheduleConfig config;
  config.kind = nnc::LRSchedule::STEP;
  config.lr = 0.1;
  config.stepSize = 3;
  config.gamma = 0.5;
  LrSchedule schedule(config);
  EXPECT_EQ(schedule.at(0, 0), 0.1);
  EXPECT_EQ(schedule.at(50, 2), 0.1);
  EXPECT_NEAR(schedule.at(60, 3), 0.05, kTolerance);
  EXPECT_NEAR(schedule.at(200, 7), 0.025, kTolerance);
}

TEST(LrScheduleTest, PlateauReducesAfterPatienceBadEvals) {
  ScheduleConfig config;
  config.kind = nnc::LRSchedule::REDUCE_ON_PLATEAU;
  config.lr = 0.1;
  config.gamma = 0.1;
  config.patience = 2;
  config.minLr = 1e-4;
  LrSchedule schedule(config);
  EXPECT_FALSE(schedule.onValidationLoss(1.0));  // best
  EXPECT_FALSE(schedule.onValidationLoss(0.9));  // better
  EXPECT_FALSE(schedule.onValidationLoss(0.95)); // bad 1
  EXPECT_FALSE(schedule.onValidationLoss(0.9));  // bad 2 (equal is no improvement)
  EXPECT_EQ(schedule.at(0, 4), 0.1);
  EXPECT_TRUE(schedule.onValidationLoss(0.91)); // bad 3 > patience: reduce
  EXPECT_NEAR(schedule.at(0, 5), 0.01, kTolerance);
  EXPECT_EQ(schedule.state().badEvals, 0);
  EXPECT_FALSE(schedule.onValidationLoss(0.5));  // better again
  for (int i = 0; i < 6; ++i)
    schedule.onValidationLoss(0.6);
  // Two more reductions, floored at minLr.
  EXPECT_NEAR(schedule.at(0, 12), 1e-4, kTolerance);
  EXPECT_EQ(schedule.state().bestLoss, 0.5);
}

TEST(LrScheduleTest, StateRoundTrips) {
  ScheduleConfig config;
  config.kind = nnc::LRSchedule::REDUCE_ON_PLATEAU;
  LrSchedule a(config), b(config);
  a.onValidationLoss(1.0);
  a.onValidationLoss(2.0);
  b.setState(a.state());
  EXPECT_EQ(a.onValidationLoss(3.0), b.onValidationLoss(3.0));
  EXPECT_EQ(a.at(0, 0), b.at(0, 0));
}

TEST(LrScheduleTest, ChecksNameTheFlag) {
  ScheduleConfig config;
  config.kind = nnc::LRSchedule::STEP;
  EXPECT_EQ(checkSchedule(config).message(),
            "--lr-step-size: the step schedule needs a step size of at least one epoch "
            "(lr_schedule.step_size)");
  config = ScheduleConfig();
  config.lr = 0;
  EXPECT_FALSE(checkSchedule(config).ok());
  EXPECT_EQ(parseScheduleKind("warmup-cosine").value(), nnc::LRSchedule::WARMUP_COSINE);
  EXPECT_FALSE(parseScheduleKind("cosine").ok());
}

TEST(LrScheduleTest, FromSpec) {
  nnc::TrainingSpec spec;
  spec.mutable_optimizer()->set_learning_rate(3e-4);
  spec.mutable_lr_schedule()->set_kind(nnc::LRSchedule::WARMUP_COSINE);
  spec.mutable_lr_schedule()->set_warmup_steps(7);
  ScheduleConfig config = scheduleFromSpec(spec);
  EXPECT_EQ(config.lr, 3e-4);
  EXPECT_EQ(config.warmupSteps, 7);
  EXPECT_EQ(config.gamma, 0.1);  // unset: the default
}

} // namespace
} // namespace nnrt::trainer
