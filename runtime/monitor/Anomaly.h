// The anomaly detector behind the monitor's warnings: gradient-norm spikes by z-score against a
// running window of recent steps, and the over/underfitting diagnoses from per-epoch train and
// validation losses. Pure state machines over numbers, so the rules can be tested directly.
#pragma once

#include "runtime/monitor/Hooks.h"

#include <deque>

namespace nnrt::monitor {

struct AnomalyConfig {
  int64_t window = 50;       // gradient norms the z-score compares against
  int64_t minWindow = 20;    // no spike verdict before this many norms
  double spikeZ = 6.0;       // a norm this many standard deviations above the window's mean
  int64_t overfitEpochs = 2; // validation loss above its best for this many epochs ...
                             // ... while the train loss kept falling
  double overfitMinRise = 0.01;  // "above": by at least this fraction (noise is not a trend)
  int64_t underfitEpochs = 3;  // epochs before "underfitting" may be said
  double underfitLoss = 0;     // train and validation losses above this are "high";
                               // 0: no underfitting verdict (the monitor sets 0.5 * ln(classes))
};

class AnomalyDetector {
public:
  explicit AnomalyDetector(AnomalyConfig config = {}) : config_(config) {}

  /// A gradient-norm spike at this step, if any. Every norm joins the window afterwards.
  std::optional<AnomalyEvent> onGradNorm(int64_t step, int64_t epoch, double norm);

  /// The epoch's diagnosis from the train loss and (if evaluated) the validation loss:
  /// "overfitting since epoch N: validation loss rising (a -> b) while training loss falls
  /// (c -> d)" once per onset, "underfitting: ..." once per run.
  std::optional<AnomalyEvent> onEpoch(int64_t epoch, double trainLoss,
                                      std::optional<double> valLoss);

private:
  AnomalyConfig config_;
  std::deque<double> norms_;
  struct EpochLosses {
    int64_t epoch;
    double train, val;
  };
  std::vector<EpochLosses> epochs_;
  int64_t reportedOverfitSince_ = 0;  // the onset last reported (0: none)
  bool reportedUnderfit_ = false;
};

} // namespace nnrt::monitor
