// Anomaly rules.
//  Spike: z = (norm - mean) / std over the previous `window` norms (at least `minWindow`);
//    z >= spikeZ is a spike. The std is floored at 1e-3 of the mean so that a flat run of
//    identical norms does not turn rounding noise into a spike.
//  Overfitting: let B be the epoch of the lowest validation loss so far. When the last
//    `overfitEpochs` epochs all lie after B, every one of them has a validation loss above B's (by
//    overfitMinRise, 1%) and
//    the train loss fell from B to now, training memorizes: "overfitting since epoch B + 1".
//  Underfitting: after `underfitEpochs` epochs both losses are still above `underfitLoss` and
//    the train loss improved less than 10% over the last two epochs.
#include "runtime/monitor/Anomaly.h"

#include <cmath>
#include <cstdio>

namespace nnrt::monitor {

const char *anomalyKindName(AnomalyEvent::Kind kind) {
  switch (kind) {
  case AnomalyEvent::NonFiniteLoss:
    return "non_finite_loss";
  case AnomalyEvent::GradNormSpike:
    return "grad_norm_spike";
  case AnomalyEvent::Overfitting:
    return "overfitting";
  case AnomalyEvent::Underfitting:
    return "underfitting";
  case AnomalyEvent::NonFiniteValue:
    return "non_finite_value";
  }
  return "unknown";
}

std::optional<AnomalyEvent> AnomalyDetector::onGradNorm(int64_t step, int64_t epoch,
                                                        double norm) {
  std::optional<AnomalyEvent> spike;
  if (!std::isfinite(norm))
    return spike;  // the non-finite loss check reports these
  if (int64_t(norms_.size()) >= config_.minWindow) {
    double mean = 0, var = 0;
    for (double x : norms_)
      mean += x;
    mean /= double(norms_.size());
    for (double x : norms_)
      var += (x - mean) * (x - mean);
    double sd = std::max(std::sqrt(var / double(norms_.size())), 1e-3 * std::fabs(mean));
    double z = sd > 0 ? (norm - mean) / sd : 0;
    if (z >= config_.spikeZ) {
      char text[192];
      std::snprintf(text, sizeof text,
                    "gradient-norm spike at step %lld: %.4g is %.1f standard deviations above "
                    "the mean %.4g of the last %zu steps",
                    static_cast<long long>(step), norm, z, mean, norms_.size());
      spike = AnomalyEvent{AnomalyEvent::GradNormSpike, step, epoch, text};
    }
  }
  norms_.push_back(norm);
  if (int64_t(norms_.size()) > config_.window)
    norms_.pop_front();
  return spike;
}

std::optional<AnomalyEvent> AnomalyDetector::onEpoch(int64_t epoch, double trainLoss,
                                                     std::optional<double> valLoss) {
  if (!valLoss || !std::isfinite(trainLoss) || !std::isfinite(*valLoss))
    return std::nullopt;
  epochs_.push_back({epoch, trainLoss, *valLoss});
  size_t best = 0;
  for (size_t i = 1; i < epochs_.size(); ++i)
    if (epochs_[i].val < epochs_[best].val)
      best = i;
  size_t last = epochs_.size() - 1;
  char text[256];
  if (int64_t(last - best) >= config_.overfitEpochs) {
    bool rising = true;
    for (size_t i = last + 1 - config_.overfitEpochs; i <= last; ++i)
      rising = rising && epochs_[i].val > epochs_[best].val * (1 + config_.overfitMinRise);
    const EpochLosses &b = epochs_[best], &now = epochs_[last];
    if (rising && now.train < b.train && reportedOverfitSince_ != b.epoch + 1) {
      reportedOverfitSince_ = b.epoch + 1;
      std::snprintf(text, sizeof text,
                    "overfitting since epoch %lld: validation loss rising (%.4f -> %.4f) while "
                    "training loss falls (%.4f -> %.4f)",
                    static_cast<long long>(b.epoch + 1), b.val, now.val, b.train, now.train);
      return AnomalyEvent{AnomalyEvent::Overfitting, 0, epoch, text};
    }
  }
  if (config_.underfitLoss > 0 && !reportedUnderfit_ &&
      int64_t(epochs_.size()) >= config_.underfitEpochs) {
    const EpochLosses &now = epochs_[last], &before = epochs_[last - 2];
    if (now.train > config_.underfitLoss && now.val > config_.underfitLoss &&
        now.train > 0.9 * before.train) {
      reportedUnderfit_ = true;
      std::snprintf(text, sizeof text,
                    "underfitting: training loss %.4f and validation loss %.4f both stay above "
                    "%.4f after %lld epochs (the training loss fell less than 10%% in 2 epochs): "
                    "a larger model, a higher learning rate or longer training may help",
                    now.train, now.val, config_.underfitLoss, static_cast<long long>(epoch));
      return AnomalyEvent{AnomalyEvent::Underfitting, 0, epoch, text};
    }
  }
  return std::nullopt;
}

} // namespace nnrt::monitor
