// The monitor's numbers: per-class metrics and the confusion matrix against values computed by
// hand on a fixed prediction set, and the anomaly detector's rules on constructed loss and
// gradient-norm histories.
#include "runtime/monitor/Anomaly.h"
#include "runtime/monitor/ClassMetrics.h"

#include <gtest/gtest.h>

namespace nnrt::monitor {
namespace {

// Ten predictions over four classes (class 3 never occurs nor is predicted):
//   true 0: predicted 0, 0, 1, 2   true 1: 1, 1, 0   true 2: 2, 2, 1
// tp = (2, 2, 2, 0); predicted = (3, 4, 3, 0); support = (4, 3, 3, 0).
TEST(MonitorMetricsTest, MatchesHandComputedValues) {
  std::vector<int64_t> labels = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  std::vector<int64_t> predicted = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
  std::vector<int64_t> confusion = confusionMatrix(labels, predicted, 4);
  EXPECT_EQ(confusion, (std::vector<int64_t>{2, 1, 1, 0,  //
                                             1, 2, 0, 0,  //
                                             0, 1, 2, 0,  //
                                             0, 0, 0, 0}));
  ClassMetrics m = classMetrics(confusion, 4);
  EXPECT_EQ(m.support, (std::vector<int64_t>{4, 3, 3, 0}));
  EXPECT_EQ(m.predicted, (std::vector<int64_t>{3, 4, 3, 0}));
  // Exact ratios of small integers: only rounding in the last place separates them.
  const double eps = 1e-12;
  EXPECT_NEAR(m.precision[0], 2.0 / 3, eps);
  EXPECT_NEAR(m.precision[1], 0.5, eps);
  EXPECT_NEAR(m.precision[2], 2.0 / 3, eps);
  EXPECT_NEAR(m.recall[0], 0.5, eps);
  EXPECT_NEAR(m.recall[1], 2.0 / 3, eps);
  EXPECT_NEAR(m.recall[2], 2.0 / 3, eps);
  EXPECT_NEAR(m.f1[0], 4.0 / 7, eps);  // 2 * (2/3 * 1/2) / (2/3 + 1/2)
  EXPECT_NEAR(m.f1[1], 4.0 / 7, eps);
  EXPECT_NEAR(m.f1[2], 2.0 / 3, eps);
  // No support and no predictions: every ratio is 0 (zero_division=0).
  EXPECT_EQ(m.precision[3], 0);
  EXPECT_EQ(m.recall[3], 0);
  EXPECT_EQ(m.f1[3], 0);
  EXPECT_NEAR(m.macroF1, (4.0 / 7 + 4.0 / 7 + 2.0 / 3) / 4, eps);
}

TEST(MonitorAnomalyTest, GradNormSpikeByZScore) {
  AnomalyDetector detector;  // window 50, at least 20, z >= 6
  for (int i = 0; i < 19; ++i)
    EXPECT_FALSE(detector.onGradNorm(i + 1, 1, i == 5 ? 100.0 : 1.0 + 0.1 * (i % 2)));
  // The window now holds 19 norms, one of them huge; a 20th still cannot be judged.
  for (int i = 19; i < 60; ++i)
    EXPECT_FALSE(detector.onGradNorm(i + 1, 1, 1.0 + 0.1 * (i % 2))) << i;
  // 50 norms alternating 1.0 / 1.1: mean 1.05, sd 0.05; 2.0 is 19 sd above.
  std::optional<AnomalyEvent> spike = detector.onGradNorm(61, 2, 2.0);
  ASSERT_TRUE(spike);
  EXPECT_EQ(spike->kind, AnomalyEvent::GradNormSpike);
  EXPECT_EQ(spike->step, 61);
  EXPECT_NE(spike->message.find("gradient-norm spike at step 61: 2 is 19.0 standard deviations"),
            std::string::npos)
      << spike->message;
  EXPECT_FALSE(detector.onGradNorm(62, 2, 1.05));
}

TEST(MonitorAnomalyTest, FlatNormsAreNotSpikes) {
  AnomalyDetector detector;
  for (int i = 0; i < 40; ++i)
    detector.onGradNorm(i + 1, 1, 0.5);
  EXPECT_FALSE(detector.onGradNorm(41, 1, 0.5 * (1 + 1e-6)));
}

TEST(MonitorAnomalyTest, OverfittingSinceTheEpochAfterTheBestValidationLoss) {
  AnomalyDetector detector;
  EXPECT_FALSE(detector.onEpoch(1, 1.0, 0.9));
  EXPECT_FALSE(detector.onEpoch(2, 0.8, 0.7));   // best validation loss
  EXPECT_FALSE(detector.onEpoch(3, 0.6, 0.75));  // one epoch above it: not yet
  std::optional<AnomalyEvent> found = detector.onEpoch(4, 0.5, 0.8);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, AnomalyEvent::Overfitting);
  EXPECT_EQ(found->message, "overfitting since epoch 3: validation loss rising (0.7000 -> "
                            "0.8000) while training loss falls (0.8000 -> 0.5000)");
  EXPECT_FALSE(detector.onEpoch(5, 0.4, 0.85));  // said once per onset
  EXPECT_FALSE(detector.onEpoch(6, 0.3, 0.6));   // a new best
  EXPECT_FALSE(detector.onEpoch(7, 0.2, 0.65));
  found = detector.onEpoch(8, 0.1, 0.7);
  ASSERT_TRUE(found);
  EXPECT_NE(found->message.find("since epoch 7"), std::string::npos);
}

TEST(MonitorAnomalyTest, NoOverfittingWhileTrainingLossAlsoRises) {
  AnomalyDetector detector;
  detector.onEpoch(1, 0.5, 0.5);
  detector.onEpoch(2, 0.6, 0.6);
  EXPECT_FALSE(detector.onEpoch(3, 0.7, 0.7));
}

TEST(MonitorAnomalyTest, UnderfittingWhenBothLossesStayHigh) {
  AnomalyConfig config;
  config.underfitLoss = 1.0;
  AnomalyDetector detector(config);
  EXPECT_FALSE(detector.onEpoch(1, 2.30, 2.30));
  EXPECT_FALSE(detector.onEpoch(2, 2.29, 2.30));
  std::optional<AnomalyEvent> found = detector.onEpoch(3, 2.28, 2.31);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->kind, AnomalyEvent::Underfitting);
  EXPECT_EQ(found->message.rfind("underfitting: training loss 2.2800 and validation loss 2.3100", 0),
            0u)
      << found->message;
  EXPECT_FALSE(detector.onEpoch(4, 2.27, 2.31));  // once per run

  AnomalyDetector learning(config);  // falling fast: not underfitting, though still high
  learning.onEpoch(1, 2.3, 2.3);
  learning.onEpoch(2, 1.9, 1.9);
  EXPECT_FALSE(learning.onEpoch(3, 1.5, 1.5));
}

} // namespace
} // namespace nnrt::monitor
