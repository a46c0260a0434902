// fit: one loop over steps, in order:
//   1. resume: parameters (weights and optimizer state), best weights and the run's position;
//   2. per epoch, the order permutation(N, seed, epoch), from the saved position;
//   3. per step, the batch (augmented) and the scheduled rate through the step runner, which
//      feeds and runs the step and applies the update when due;
//   4. at an epoch's end: mean train loss, eval_step over the validation split (else the test
//      set), reduce-on-plateau and early stopping on its loss;
//   5. every checkpointEvery steps (after any end-of-epoch work, so a checkpoint is always
//      between whole steps) and at the end, last.ckpt;
//   6. with early stopping, the best weights become the final model; then the test set.
// Every step, evaluation and epoch end is reported to the monitor (when there is one); an epoch's
// diagnosis (overfitting, ...) is printed before the epoch's line. A non-finite loss stops the
// run naming the step and the non-finite outputs and parameters, or with skipNonFinite restores
// the parameters copied before the step and goes on.
// Nothing else carries state between steps (train_step reads only its inputs and parameters), so
// a run resumed from a checkpoint computes exactly the steps an uninterrupted one would.
#include "runtime/trainer/Trainer.h"

#include "runtime/augment/LrFinder.h"

#include "runtime/collective/Communicator.h"
#include "runtime/monitor/ClassMetrics.h"
#include "runtime/monitor/NonfiniteOrigin.h"
#include "runtime/trainer/Batches.h"
#include "runtime/trainer/Evaluate.h"
#include "runtime/trainer/PipelineLoop.h"
#include "runtime/trainer/Shuffle.h"
#include "runtime/trainer/StepRunner.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

namespace nnrt::trainer {

using nnc::Status;

std::string lastCheckpointPath(const std::string &dir) {
  return (std::filesystem::path(dir) / "last.ckpt").string();
}
std::string bestCheckpointPath(const std::string &dir) {
  return (std::filesystem::path(dir) / "best.ckpt").string();
}

namespace {

std::string format(const char *pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string describeEval(const char *split, const EvalResult &r) {
  std::string line = std::string(split) + " loss " + format("%.4f", r.loss);
  if (r.hasAccuracy)
    line += "  " + std::string(split) + " accuracy " + format("%.2f%%", 100 * r.accuracy());
  return line;
}

/// "warning: test: 300 of 300 predictions are not finite ..." before the line that counts them.
void warnNonFinite(std::ostream &out, const char *split, const EvalResult &r) {
  if (r.nonFinite > 0)
    out << "warning: " << split << ": " << r.nonFinite << " of " << r.predictions
        << " predictions are not finite (NaN or infinite logits, counted as wrong)\n";
}

/// The names of the non-finite tensors among `tensors`, at most `limit` of them, and a count.
std::string nonFiniteNames(const std::vector<std::pair<std::string, HostTensor>> &tensors) {
  std::string names;
  int64_t found = 0;
  for (const auto &[name, tensor] : tensors) {
    if (tensor.dtype != nnc::F32)  // master weights and optimizer state are f32
      continue;
    std::vector<float> values = tensor.toFloats();
    if (std::all_of(values.begin(), values.end(), [](float x) { return std::isfinite(x); }))
      continue;
    if (++found <= 6)
      names += (found > 1 ? ", '" : "'") + name + "'";
  }
  if (found > 6)
    names += " and " + std::to_string(found - 6) + " more";
  return found ? names : "none";
}

monitor::EvalEvent evalEvent(const EvalResult &r, const char *split, int64_t step,
                             int64_t epoch) {
  monitor::EvalEvent e;
  e.step = step, e.epoch = epoch, e.split = split, e.loss = r.loss, e.examples = r.examples;
  if (r.hasAccuracy)
    e.accuracy = r.accuracy();
  if (!r.confusion.empty())
    e.metrics = monitor::classMetrics(r.confusion, int64_t(r.classTotal.size()));
  e.worst = r.worst;
  e.wallTime = monitor::wallTime();
  return e;
}

/// Data parallelism: this rank's part of an epoch's `order`. Step s's global batch is rows
/// [s * ranks * batch, (s + 1) * ranks * batch) of it and rank r takes the r-th `batch` rows, so
/// the ranks together see exactly what one process with a batch of ranks x batch would.
std::vector<int64_t> shardOrder(const std::vector<int64_t> &order, int64_t batch, int rank,
                                int ranks) {
  if (ranks == 1)
    return order;
  std::vector<int64_t> mine;
  int64_t global = batch * ranks;
  for (int64_t start = 0; start + global <= static_cast<int64_t>(order.size()); start += global)
    mine.insert(mine.end(), order.begin() + start + rank * batch,
                order.begin() + start + (rank + 1) * batch);
  return mine;
}

/// A batch as train_step took it (augmented, soft labels) and its 1-based step number.
struct Fed {
  Batch batch;
  int64_t step = 0;
  float loss = 0;
};

class Run {
public:
  Run(Executor &executor, const FitBinding &binding, const DataSplits &data,
      const FitConfig &config, std::ostream &out, monitor::Monitor *monitor)
      : exec_(executor), binding_(binding), data_(data), config_(config), out_(out),
        monitor_(monitor),
        schedule_(config.schedule), runner_(executor, config.seed, config.group),
        rank_(runner_.rank()), ranks_(runner_.ranks()),
        stepsPerEpoch_(data.train.size() / (binding.batch * ranks_)) {
    evalSet_ = data.validation.size() ? &data.validation : data.test.size() ? &data.test : nullptr;
    evalName_ = data.validation.size() ? "val" : "test";
  }

  Status resume(const Checkpoint &checkpoint) {
    if (Status s = restoreParameters(exec_, checkpoint); !s.ok())
      return s;
    state_ = checkpoint.state;
    schedule_.setState(state_.plateau);
    for (const auto &[name, tensor] : checkpoint.tensors)
      if (name.rfind("best/", 0) == 0)
        best_.emplace_back(name, tensor);
    out_ << "resumed at step " << state_.step << " (epoch " << state_.epoch + 1 << ", batch "
         << state_.batchInEpoch << ")\n";
    if (binding_.train.lossScale) {  // fp16: the overflows so far are not news
      nnc::StatusOr<LossScaleReading> reading =
          checkLossScale(exec_, *binding_.train.lossScale, state_.step);
      if (!reading.ok())
        return reading.status();
      skippedSteps_ = reading->skipped;
    }
    return Status();
  }

  Status run() {
    state_.seed = config_.seed;
    state_.runName = config_.runName;
    state_.globalBatch = binding_.batch * ranks_;
    state_.trainExamples = data_.train.size();
    state_.dataDigest = config_.dataDigest;
    state_.epochsPlanned = config_.epochs;
    state_.schedule = describeSchedule(config_.schedule);
    if (!config_.checkpointDir.empty()) {
      std::error_code error;
      std::filesystem::create_directories(config_.checkpointDir, error);
      if (error)
        return Status::error(config_.checkpointDir + ": cannot create directory: " +
                             error.message());
    }
    while (!state_.finished && state_.epoch < config_.epochs) {
      Prefetcher batches(data_.train,
                         shardOrder(permutation(data_.train.size(), config_.seed, state_.epoch),
                                    binding_.batch, rank_, ranks_),
                         binding_.batch, state_.batchInEpoch, stepsPerEpoch_);
      epochStart_ = std::chrono::steady_clock::now();
      // endEpoch moves state_ to the next epoch, which needs its own order and prefetcher.
      for (int64_t epoch = state_.epoch; !state_.finished && state_.epoch == epoch;) {
        if (Status s = step(batches.next()); !s.ok())
          return inPlan(s);
        if (state_.batchInEpoch == stepsPerEpoch_)
          if (Status s = endEpoch(); !s.ok())
            return s;
        if (config_.checkpointEvery > 0 && state_.step % config_.checkpointEvery == 0 &&
            !state_.finished)
          if (Status s = saveLast(); !s.ok())
            return s;
        if (stopRequested_)
          return interrupted();
      }
    }
    state_.finished = true;
    if (skippedTotal_ > 0)
      out_ << "skipped " << skippedTotal_ << " steps with a non-finite loss or gradient\n";
    if (Status s = saveLast(); !s.ok())
      return s;
    if (!best_.empty()) {
      Checkpoint best;
      best.tensors = best_;
      if (Status s = restoreParameters(exec_, best, "best/"); !s.ok())
        return s;
      out_ << "final model: the best weights (epoch " << state_.bestEpoch << ", " << evalName_
           << " loss " << format("%.4f", state_.bestLoss) << ")\n";
    }
    if (Status s = test(); !s.ok())
      return s;
    // What watching cost: the hooks and the events they were given, against the steps' own time.
    if (monitor_ && stepsSeconds_ > 0)
      out_ << "monitoring: " << format("%.1f", monitor_->seconds() * 1e3) << " ms, "
           << format("%.2f", 100 * monitor_->seconds() / stepsSeconds_) << "% of the "
           << format("%.1f", stepsSeconds_) << " s of training steps\n";
    return Status();
  }

private:
  /// SIGINT or SIGTERM (on any rank) asked to stop after the step just run: save where the run
  /// is, so --resume continues it as if nothing had happened.
  Status interrupted() {
    std::string where = "interrupted at step " + std::to_string(state_.step) + " (epoch " +
                        std::to_string(state_.epoch + 1) + ")";
    if (config_.checkpointDir.empty())
      return Status::error(where + "; nothing saved (--checkpoint-dir keeps the run to resume)");
    if (Status s = saveLast(); !s.ok())
      return s;
    return Status::error(where + "; checkpoint " + lastCheckpointPath(config_.checkpointDir) +
                         " written; continue with --resume");
  }

  /// With gradient accumulation, the update after every k-th micro-batch (a trainer step is a
  /// micro-batch; the update takes the schedule's rate at its last one and is numbered from 1
  /// for Adam's bias correction).
  Status applyIfDue(double lr) {
    const std::optional<ApplyBinding> &apply = binding_.train.apply;
    if (!apply || (state_.step + 1) % apply->steps != 0)
      return Status();
    return runner_.apply(*apply, float(lr), (state_.step + 1) / apply->steps);
  }

  /// `batch` with the configured augmentation applied to its real rows (seeded by the step), and
  /// for a soft-target plan its labels as probability rows: mixed by mixup, else one-hot.
  Status augment(const Batch &batch, Batch &out) {
    out = batch;
    HostTensor &x = out.features;
    uint64_t step = static_cast<uint64_t>(state_.step);
    Status s;
    if (x.dtype == nnc::F32 && x.shape.size() == 4 && config_.imageAugment.enabled())
      s = augmentImages(config_.imageAugment, config_.seed, step,
                        reinterpret_cast<float *>(x.data.data()), out.count,
                        ImageShape{x.shape[1], x.shape[2], x.shape[3]});
    else if (x.dtype == nnc::F32 && x.shape.size() == 2 && config_.tabularAugment.noiseStddev > 0)
      s = addFeatureNoise(config_.tabularAugment, config_.seed, step,
                          reinterpret_cast<float *>(x.data.data()), out.count, x.shape[1]);
    else if (x.dtype == nnc::I64 && x.shape.size() == 2 && config_.textAugment.maskProbability > 0)
      s = maskTokens(config_.textAugment, config_.seed, step,
                     reinterpret_cast<int64_t *>(x.data.data()), out.count, x.shape[1]);
    if (!s.ok() || !binding_.softLabels)
      return s;
    int64_t rows = x.shape[0], classes = binding_.model.numClasses;
    HostTensor soft(nnc::F32, {rows, classes});
    if (x.dtype != nnc::F32)
      return Status::error("mixup and soft targets need f32 features");
    s = mixupRows(config_.tabularAugment, config_.seed, step,
                  reinterpret_cast<float *>(x.data.data()), rows, x.numElements() / rows,
                  reinterpret_cast<const int64_t *>(out.labels.data.data()), classes,
                  reinterpret_cast<float *>(soft.data.data()));
    out.labels = std::move(soft);
    return s;
  }

  /// The executor's errors name a function and node of the plan: "model.plan: function ...".
  Status inPlan(const Status &s) const { return Status::error(config_.planPath + ": " + s.message()); }

  /// One trainer step (one micro-batch with gradient accumulation): train it, then log it,
  /// count it and report it to the monitor.
  Status step(const Batch &batch) {
    auto start = std::chrono::steady_clock::now();
    double lr = schedule_.at(state_.step, state_.epoch);
    monitor::StepEvent event;
    float value = 0;  // the loss, the mean over every rank's batch
    if (Status s = trainStep(batch, lr, value, event); !s.ok())
      return s;
    if (config_.logSteps) {
      char line[128];
      std::snprintf(line, sizeof line, "step %lld epoch %lld lr %.9g loss %.9g\n",
                    static_cast<long long>(state_.step + 1),
                    static_cast<long long>(state_.epoch + 1), lr, double(value));
      out_ << line;
    }
    lastLr_ = lr;
    if (!event.skipped && std::isfinite(value))
      state_.epochLossSum += value;
    else
      ++skippedInEpoch_;  // no loss to average
    ++state_.step;
    ++state_.batchInEpoch;
    ++stepsThisEpoch_;
    auto trained = std::chrono::steady_clock::now();
    stepsSeconds_ += std::chrono::duration<double>(trained - start).count();
    if (!monitor_)
      return Status();
    if (Status s = reportStep(event, start, trained, value, lr); !s.ok())
      return s;
    return sampleIfDue();
  }

  /// Runs the step on `batch` (augmented) at rate `lr` through the runner, applies the update
  /// when due and handles what went wrong: an fp16 overflow, a skipped update, a non-finite loss.
  Status trainStep(const Batch &batch, double lr, float &value, monitor::StepEvent &event) {
    if (config_.pipeline)
      return pipelineStep(batch, lr, value);
    bool guarded = binding_.train.updateSkipped.has_value();  // the plan skips such updates
    std::vector<std::pair<std::string, HostTensor>> before;  // --skip-nonfinite's host copy
    if (config_.skipNonFinite && !guarded) {
      nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> copy =
          captureParameters(exec_);
      if (!copy.ok())
        return copy.status();
      before = std::move(*copy);
    }
    Batch augmented;
    if (Status s = augment(batch, augmented); !s.ok())
      return s;
    nnc::StatusOr<float> loss = runner_.runMicroBatch(
        binding_.train, {&augmented.features, &augmented.labels, state_.step + 1}, float(lr));
    if (!loss.ok())
      return loss.status();
    if (Status s = applyIfDue(lr); !s.ok())
      return s;
    value = *loss;
    if (Status s = runner_.reduceLoss("the loss of step " + std::to_string(state_.step + 1),
                                      value, stopRequested_);
        !s.ok())
      return s;
    bool overflowed = false;  // fp16: the plan itself skipped this step
    if (Status s = watchLossScale(event, overflowed); !s.ok())
      return s;
    if (guarded) {
      if (Status s = checkUpdateGuard(std::move(augmented), value, event); !s.ok())
        return s;
    } else if (!std::isfinite(value) && !overflowed) {
      if (Status s = nonFiniteLoss(value, before, event); !s.ok())
        return s;
    }
    if (monitor_ && binding_.train.gradNorm) {
      nnc::StatusOr<HostTensor> norm = exec_.read(*binding_.train.gradNorm);
      if (!norm.ok())
        return norm.status();
      event.gradNorm = norm->toFloats()[0];
    }
    return Status();
  }

  /// A pipelined plan's step: one update through the stages (whose plans skip a non-finite
  /// update together); a loss that is not finite all the same stops the run.
  Status pipelineStep(const Batch &batch, double lr, float &value) {
    Batch augmented;
    if (Status s = augment(batch, augmented); !s.ok())
      return s;
    nnc::StatusOr<float> loss =
        config_.pipeline->train(augmented, state_.step, float(lr), stopRequested_);
    if (!loss.ok())
      return loss.status();
    value = *loss;
    if (!std::isfinite(value))
      return Status::error("non-finite loss (" + format("%g", value) + ") at step " +
                           std::to_string(state_.step + 1) + " (epoch " +
                           std::to_string(state_.epoch + 1) + ")");
    return Status();
  }

  /// eval_step over `set`: the plan's, or through a pipeline's stages.
  nnc::StatusOr<EvalResult> evaluateOn(const Dataset &set) {
    if (config_.pipeline)
      return evaluate(config_.pipeline->evalStep(), binding_, set);
    return evaluate(exec_, binding_, set);
  }

  /// The parameters and optimizer state to save, prefixed: a pipeline stage's without its
  /// accumulators.
  nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
  captureState(const std::string &prefix = "") const {
    if (config_.pipeline)
      return config_.pipeline->capture(prefix);
    return captureParameters(exec_, prefix);
  }

  /// Writes `checkpoint` to `path` from the rank that writes: rank 0; a pipeline first gathers
  /// every stage's tensors there (every rank takes part).
  Status writeFromRankZero(const std::string &path, Checkpoint checkpoint) {
    if (config_.pipeline) {
      nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> all =
          config_.pipeline->gather(std::move(checkpoint.tensors));
      if (!all.ok())
        return all.status();
      if (!config_.pipeline->writes())
        return Status();
      checkpoint.tensors = std::move(*all);
      if (config_.normalization)  // rank 0's own: the stages' copies were not sent
        for (auto &tensor : config_.normalization->tensors())
          checkpoint.tensors.push_back(std::move(tensor));
    } else if (rank_ != 0 || !runner_.writesFiles()) { // or a tensor-parallel helper
      return Status();
    }
    return writeCheckpoint(path, checkpoint);
  }

  /// fp16: the loss scale after the step; a new skipped step is an overflow, said on a line.
  Status watchLossScale(monitor::StepEvent &event, bool &overflowed) {
    if (!binding_.train.lossScale)
      return Status();
    nnc::StatusOr<LossScaleReading> reading =
        checkLossScale(exec_, *binding_.train.lossScale, state_.step);
    if (!reading.ok())
      return reading.status();
    if (reading->skipped != skippedSteps_) {
      skippedSteps_ = reading->skipped;
      overflowed = true;
      out_ << "overflow at step " << state_.step + 1 << " (first in the gradient of "
           << reading->overflowed << "): step skipped, loss scale now "
           << format("%g", reading->scale) << "\n";
    }
    event.lossScale = reading->scale;
    event.skippedSteps = reading->skipped;
    return Status();
  }

  /// A guarded plan: keeps the update's micro-batches until it has run, in case find_nonfinite
  /// must look at them, then asks whether the plan skipped it.
  Status checkUpdateGuard(Batch augmented, float value, monitor::StepEvent &event) {
    fed_.push_back({std::move(augmented), state_.step + 1, value});
    if (binding_.train.apply && (state_.step + 1) % binding_.train.apply->steps != 0)
      return Status();
    nnc::StatusOr<bool> skipped = runner_.updateSkipped(binding_.train);
    if (!skipped.ok())
      return skipped.status();
    std::vector<Fed> fed = std::move(fed_);
    fed_.clear();
    return *skipped ? nonFiniteUpdate(value, fed, event) : Status();
  }

  /// The monitor's view of the step just counted.
  Status reportStep(monitor::StepEvent &event, std::chrono::steady_clock::time_point start,
                    std::chrono::steady_clock::time_point trained, float value, double lr) {
    event.step = state_.step, event.epoch = state_.epoch + 1;
    event.batchInEpoch = state_.batchInEpoch, event.stepsPerEpoch = stepsPerEpoch_;
    event.totalSteps = config_.epochs * stepsPerEpoch_, event.epochs = config_.epochs;
    event.batchSize = binding_.batch, event.loss = value, event.lr = lr;
    event.stepSeconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Every rank trained its batch in this step: the rate is the global batch's.
    event.samplesPerSecond =
        event.stepSeconds > 0 ? double(binding_.batch * ranks_) / event.stepSeconds : 0;
    if (residentBytes_ == 0 || state_.step % 20 == 0)  // a file read: not every step
      residentBytes_ = monitor::residentBytes();
    event.residentBytes = residentBytes_;
    event.wallTime = monitor::wallTime();
    monitor_->addSeconds(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - trained).count());
    return monitor_->stepEnd(event);
  }

  /// --sample-every: a language model's generated text after every N-th step.
  Status sampleIfDue() {
    const TextSampler *sampler = config_.sampler;
    if (!sampler || state_.step % sampler->config().every != 0)
      return Status();
    nnc::StatusOr<monitor::SampleEvent> sample =
        sampler->generate(exec_, state_.step, state_.epoch + 1, config_.seed);
    if (!sample.ok())
      return inPlan(sample.status());
    return monitor_->sample(*sample);
  }

  /// The plan skipped the update just run (its loss or a gradient was not finite; every
  /// parameter kept its value): find_nonfinite, run on each micro-batch the update took until
  /// one shows a non-finite value, names the node and pass where it started. Then stop, or
  /// (skipNonFinite) go on.
  Status nonFiniteUpdate(float loss, const std::vector<Fed> &fed, monitor::StepEvent &event) {
    std::vector<MicroBatch> batches;
    for (const Fed &f : fed)
      batches.push_back({&f.batch.features, &f.batch.labels, f.step});
    nnc::StatusOr<std::optional<RankedOrigin>> located =
        runner_.locateNonfinite(binding_.train, batches);
    if (!located.ok())
      return located.status();
    const std::optional<RankedOrigin> &origin = *located;
    int64_t at = origin ? origin->step : state_.step + 1;
    for (const Fed &f : fed)
      if (f.step == at)
        loss = f.loss;  // that micro-batch's (the mean over the ranks)
    std::string message = "non-finite value at step " + std::to_string(at) + " (epoch " +
                          std::to_string(state_.epoch + 1) + "): ";
    message += origin ? "first in " + origin->origin.describe() +
                            (ranks_ > 1 ? " on rank " + std::to_string(origin->rank) : "")
                      : std::string("every value of the forward and backward pass was finite "
                                    "(the gradient norm or the accumulated gradients overflowed)");
    message += "; loss " + (std::isnan(loss) ? std::string("nan") : format("%g", loss));
    if (monitor_)
      if (Status s = monitor_->anomaly(
              {monitor::AnomalyEvent::NonFiniteValue, at, state_.epoch + 1, message});
          !s.ok())
        return s;
    if (!config_.skipNonFinite)
      return Status::error(message + " (--skip-nonfinite skips such steps)");
    event.skipped = true;
    ++skippedTotal_;
    out_ << message << ": step skipped, parameters kept\n";
    return Status();
  }

  /// A plan without the compiled guard: the loss of the step just run is not finite. Name the
  /// step and the non-finite outputs and parameters, then stop, or (skipNonFinite) put back the
  /// parameters copied before the step.
  Status nonFiniteLoss(float value, std::vector<std::pair<std::string, HostTensor>> &before,
                       monitor::StepEvent &event) {
    std::vector<std::pair<std::string, HostTensor>> outputs;
    if (const nnc::Function *function = exec_.function("train_step"))
      for (const nnc::TensorSlice &output : function->outputs()) {
        nnc::StatusOr<HostTensor> tensor = exec_.read(output);
        if (!tensor.ok())
          return tensor.status();
        outputs.emplace_back(output.name(), std::move(*tensor));
      }
    nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> parameters =
        captureParameters(exec_);
    if (!parameters.ok())
      return parameters.status();
    std::string where = "step " + std::to_string(state_.step + 1) + " (epoch " +
                        std::to_string(state_.epoch + 1) + ")";
    std::string message = "non-finite loss (" + format("%g", value) + ") at " + where +
                          "; non-finite train_step outputs: " + nonFiniteNames(outputs) +
                          "; non-finite parameters after the step: " +
                          nonFiniteNames(*parameters);
    if (monitor_)
      if (Status s = monitor_->anomaly({monitor::AnomalyEvent::NonFiniteLoss, state_.step + 1,
                                        state_.epoch + 1, message});
          !s.ok())
        return s;
    if (!config_.skipNonFinite)
      return Status::error(message + " (--skip-nonfinite skips such steps)");
    Checkpoint copy;
    copy.tensors = std::move(before);
    if (Status s = restoreParameters(exec_, copy); !s.ok())
      return s;
    before = std::move(copy.tensors);
    ++skippedTotal_;
    event.skipped = true;
    out_ << message << ": step skipped, parameters restored\n";
    return Status();
  }

  Status endEpoch() {
    int64_t epoch = state_.epoch + 1;  // 1-based, as printed
    // Skipped (non-finite) steps have no loss to average; a resumed run forgets earlier skips.
    double trainLoss = state_.epochLossSum / double(std::max<int64_t>(
                                                 stepsPerEpoch_ - skippedInEpoch_, 1));
    std::string line = "epoch " + std::to_string(epoch) + "/" + std::to_string(config_.epochs) +
                       "  train loss " + format("%.4f", trainLoss);
    std::string note;
    monitor::EpochEvent epochEvent;
    if (evalSet_ && binding_.eval) {
      nnc::StatusOr<EvalResult> result = evaluateOn(*evalSet_);
      if (!result.ok())
        return inPlan(result.status());
      if (monitor_)
        if (Status s = monitor_->evalEnd(evalEvent(*result, evalName_, state_.step, epoch));
            !s.ok())
          return s;
      warnNonFinite(out_, evalName_, *result);
      epochEvent.valLoss = result->loss;
      if (result->hasAccuracy)
        epochEvent.valAccuracy = result->accuracy();
      line += "  " + describeEval(evalName_, *result);
      if (schedule_.onValidationLoss(result->loss))
        note += "; plateau: lr reduced to " + format("%.6g", schedule_.at(state_.step, epoch));
      state_.plateau = schedule_.state();
      if (config_.earlyStoppingPatience > 0)
        if (Status s = trackBest(result->loss, epoch, note); !s.ok())
          return s;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart_).count();
    // This process's steps of the epoch (a resumed epoch's first part ran in another).
    double samplesPerSecond =
        seconds > 0 ? double(stepsThisEpoch_ * binding_.batch * ranks_) / seconds : 0;
    stepsThisEpoch_ = 0;
    if (monitor_) {
      epochEvent.epoch = epoch, epochEvent.epochs = config_.epochs, epochEvent.step = state_.step;
      epochEvent.trainLoss = trainLoss, epochEvent.lr = lastLr_, epochEvent.seconds = seconds;
      epochEvent.samplesPerSecond = samplesPerSecond;
      if (Status s = monitor_->epochEnd(epochEvent); !s.ok())
        return s;
    }
    skippedInEpoch_ = 0;
    out_ << line << "  lr " << format("%.6g", lastLr_) << "  (" << format("%.1f", seconds)
         << " s, " << format("%.0f", samplesPerSecond) << " samples/s)" << note << "\n";
    ++state_.epoch;
    state_.batchInEpoch = 0;
    state_.epochLossSum = 0;
    return Status();
  }

  /// Early stopping: keep the best weights; stop after `patience` evals without improvement.
  Status trackBest(double loss, int64_t epoch, std::string &note) {
    if (loss < state_.bestLoss) {
      state_.bestLoss = loss;
      state_.bestEpoch = epoch;
      state_.badEvals = 0;
      nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> weights =
          captureState("best/");
      if (!weights.ok())
        return weights.status();
      best_ = std::move(*weights);
      if (!config_.checkpointDir.empty()) {
        // A pipeline's rank 0 adds the normalization after the gather (writeFromRankZero).
        Checkpoint best = snapshotOf({}, !config_.pipeline);
        for (const auto &[name, tensor] : best_)
          best.tensors.emplace_back(name.substr(5), tensor);  // drop "best/"
        best.state.bestEpoch = -1;  // it holds no best/ copies of its own
        if (Status s = writeFromRankZero(bestCheckpointPath(config_.checkpointDir), best);
            !s.ok())
          return s;
      }
      return Status();
    }
    if (++state_.badEvals >= config_.earlyStoppingPatience) {
      state_.finished = true;
      note += "; early stopping: no improvement in " + std::to_string(state_.badEvals) +
              " epochs";
    }
    return Status();
  }

  Checkpoint snapshotOf(std::vector<std::pair<std::string, HostTensor>> tensors,
                        bool normalization = true) const {
    Checkpoint checkpoint;
    checkpoint.modelSha256 = config_.modelSha256;
    checkpoint.state = state_;
    checkpoint.tensors = std::move(tensors);
    // So that --predict --checkpoint sees inputs as training did.
    if (normalization && config_.normalization)
      for (auto &tensor : config_.normalization->tensors())
        checkpoint.tensors.push_back(std::move(tensor));
    return checkpoint;
  }

  /// Every rank holds the same parameters and state: rank 0 writes them for all.
  Status saveLast() {
    // ZeRO-1: every rank gives its optimizer-state shards to the gather; rank 0 writes.
    if (config_.checkpointDir.empty() ||
        (rank_ != 0 && !config_.pipeline && !exec_.hasShardedParameters()))
      return Status();
    nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> weights = captureState();
    if (!weights.ok())
      return weights.status();
    Checkpoint checkpoint = snapshotOf(std::move(*weights), !config_.pipeline);
    checkpoint.tensors.insert(checkpoint.tensors.end(), best_.begin(), best_.end());
    return writeFromRankZero(lastCheckpointPath(config_.checkpointDir), std::move(checkpoint));
  }

  Status test() {
    if (!data_.test.size() || !binding_.eval)
      return Status();
    nnc::StatusOr<EvalResult> result = evaluateOn(data_.test);
    if (!result.ok())
      return inPlan(result.status());
    if (monitor_)
      if (Status s = monitor_->evalEnd(evalEvent(*result, "test", state_.step, 0)); !s.ok())
        return s;
    warnNonFinite(out_, "test", *result);
    out_ << describeEval("test", *result) << "  (" << result->examples << " examples)\n";
    if (!result->hasAccuracy)
      return Status();
    std::string perClass = "per class:";
    for (size_t c = 0; c < result->classTotal.size(); ++c)
      if (result->classTotal[c] > 0)
        perClass += " " + (c < config_.classNames.size() ? config_.classNames[c]
                                                          : std::to_string(c)) + " " +
                    format("%.1f%%", 100.0 * double(result->classCorrect[c]) /
                                         double(result->classTotal[c])) +
                    (c + 1 < result->classTotal.size() ? "," : "");
    out_ << perClass << "\n";
    return Status();
  }

  Executor &exec_;
  const FitBinding &binding_;
  const DataSplits &data_;
  const FitConfig &config_;
  std::ostream &out_;
  monitor::Monitor *monitor_;
  LrSchedule schedule_;
  StepRunner runner_;  // feeds, runs and applies each step
  int rank_, ranks_;  // data parallelism: this process among the group's
  int64_t stepsPerEpoch_;
  const Dataset *evalSet_ = nullptr;
  const char *evalName_ = "val";
  TrainerState state_;
  std::vector<std::pair<std::string, HostTensor>> best_;  // "best/<name>"
  double lastLr_ = 0;
  float skippedSteps_ = 0;  // fp16: the skipped-step count last seen, to report each overflow
  std::chrono::steady_clock::time_point epochStart_;
  int64_t skippedInEpoch_ = 0, skippedTotal_ = 0;  // --skip-nonfinite
  int64_t residentBytes_ = 0;                      // sampled every 20 steps
  double stepsSeconds_ = 0;                        // the steps' own time, without monitoring
  std::vector<Fed> fed_;  // the current update's micro-batches (guarded plans)
  bool stopRequested_ = false;  // SIGINT/SIGTERM on some rank: stop after this step
  int64_t stepsThisEpoch_ = 0;  // by this process, for the epoch's samples/s
};

} // namespace

Status fit(Executor &executor, const FitBinding &binding, const DataSplits &data,
           const FitConfig &config, const std::optional<Checkpoint> &resume, std::ostream &out,
           monitor::Monitor *monitor) {
  if (binding.batch < 1 || data.train.size() < binding.batch)
    return Status::error(data.train.featuresFile + ": the training split holds " +
                         std::to_string(data.train.size()) + " examples, fewer than one batch of " +
                         std::to_string(binding.batch));
  Run run(executor, binding, data, config, out, monitor);
  Status status = resume ? run.resume(*resume) : Status();
  if (status.ok())
    status = run.run();
  if (monitor)
    if (Status s = monitor->runEnd(); !s.ok() && status.ok())
      status = s;
  return status;
}

Status findLr(Executor &executor, const FitBinding &binding, const DataSplits &data,
              const FitConfig &config, const std::string &prefix, std::ostream &out) {
  nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> saved =
      captureParameters(executor);
  if (!saved.ok())
    return saved.status();
  if (binding.train.apply)
    return Status::error("--lr-find does not drive gradient accumulation yet (accumulate_step, "
                         "apply_step); find the rate on the plan compiled without it");
  int64_t steps = data.train.size() / binding.batch;
  if (steps < 2)
    return Status::error("--lr-find needs at least two training batches, the data has " +
                         std::to_string(steps));
  LrFinderOptions options;
  options.numSteps = steps;  // up to one epoch
  Prefetcher batches(data.train, permutation(data.train.size(), config.seed, 0), binding.batch, 0,
                     steps);
  Status failure;
  int64_t taken = 0;
  StepRunner runner(executor, config.seed, nullptr);  // one process: the seed keys dropout
  auto trainAt = [&](float lr) -> float {
    Batch batch = batches.next();
    ++taken;
    nnc::StatusOr<float> loss =
        runner.runMicroBatch(binding.train, {&batch.features, &batch.labels, taken}, lr);
    if (!loss.ok()) {
      failure = loss.status();
      return std::numeric_limits<float>::quiet_NaN(); // stops the finder
    }
    return *loss;
  };
  nnc::StatusOr<LrFinderResult> result = findLearningRate(options, trainAt);
  // The model leaves the test as it came: the finder's steps trained it.
  Checkpoint original;
  original.tensors = std::move(*saved);
  if (Status s = restoreParameters(executor, original); !s.ok())
    return s;
  if (!failure.ok())
    return failure;
  if (!result.ok())
    return result.status();
  if (Status s = writeLrFinderCsv(*result, prefix + ".csv"); !s.ok())
    return s;
  if (Status s = writeLrFinderSvg(*result, prefix + ".svg"); !s.ok())
    return s;
  const char *stop = result->stop == LrFinderStop::Completed  ? "one epoch"
                     : result->stop == LrFinderStop::Diverged ? "the loss exploded"
                                                              : "the loss became non-finite";
  out << "lr finder: " << result->curve.size() << " steps from " << format("%g", options.minLr)
      << " (stopped: " << stop << "); curve in " << prefix << ".csv and " << prefix << ".svg\n";
  if (result->suggestedIndex < 0)
    out << "lr finder: no suggestion (the loss never fell)\n";
  else
    out << "suggested learning rate " << format("%.3g", result->suggestedLr)
        << " (steepest descent of the smoothed loss); parameters left untouched\n";
  return Status();
}

} // namespace nnrt::trainer
