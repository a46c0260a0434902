// The training loop behind `nnrun --fit`: epochs of seeded-shuffled batches through train_step
// with the scheduled learning rate, an evaluation per epoch, reduce-on-plateau and early stopping
// on the validation loss, periodic atomic checkpoints and a resume that continues bit-identically,
// and a final evaluation of every test example. It reports to a monitor (runtime/monitor) at every
// step, evaluation and epoch end, and stops (or skips the step) when the loss turns non-finite.
#pragma once

#include "runtime/Executor.h"
#include "runtime/augment/Augment.h"
#include "runtime/monitor/Monitor.h"
#include "runtime/trainer/Binding.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/Dataset.h"
#include "runtime/trainer/LrSchedule.h"
#include "runtime/trainer/Sampler.h"

#include <optional>
#include <ostream>

namespace nnrt {
class Communicator;
class PipelineFit;
} // namespace nnrt

namespace nnrt::trainer {

struct FitConfig {
  int64_t epochs = 1;
  ScheduleConfig schedule;            // totalSteps = epochs * steps per epoch
  uint64_t seed = 0;                  // data order, validation split, nnc.rng_key
  int64_t earlyStoppingPatience = 0;  // evals without improvement; 0: off
  std::string checkpointDir;          // last.ckpt (every checkpointEvery steps and at the end),
                                      // best.ckpt (early stopping's best weights)
  int64_t checkpointEvery = 0;
  bool logSteps = false;              // "step S epoch E lr R loss L" per step
  bool skipNonFinite = false;         // a step whose loss is not finite is undone (parameters
                                      // restored from a host copy taken before it), not fatal
  std::string modelSha256;            // recorded in checkpoints
  std::string runName;                // recorded in checkpoints: a resume continues the run
  std::vector<std::string> classNames;  // the test's per-class line names classes by them
  std::optional<Normalization> normalization;  // the data's, saved with every checkpoint
  std::string dataDigest;                      // the training split's, saved likewise
  std::string planPath;               // prefixes the executor's errors
  // Host-side augmentation of each training batch before it is fed, seeded by (seed, step,
  // row): images (N, C, H, W) f32, tabular rows (N, F) f32, token ids (N, T) i64.
  ImageAugmentConfig imageAugment;
  TabularAugmentConfig tabularAugment;
  TextAugmentConfig textAugment;
  // --sample-every: a language model's generated text every N steps (shown by the monitor).
  const TextSampler *sampler = nullptr;
  // Data parallelism (not owned; null: one process). Step s takes the s-th run of ranks x batch
  // examples of the epoch's order and rank r trains on its r-th batch of it; reported losses
  // are means over the ranks, dropout is keyed per rank, and rank 0 alone writes checkpoints.
  Communicator *group = nullptr;
  // A pipelined plan (not owned; null: a plan of one stage): each step is one update of the
  // pipeline, evaluation runs through its stages, and checkpoints gather every stage's tensors
  // (group is then this stage's replicas).
  PipelineFit *pipeline = nullptr;
};

/// Trains `executor`'s plan (already initialized) on data.train; `resume` (verified against the
/// plan) restores parameters, best weights and the run's position first. Writes one line per
/// epoch, and at the end the test results, to `out`; events go to `monitor` when given (its
/// runEnd is called however the run ends).
nnc::Status fit(Executor &executor, const FitBinding &binding, const DataSplits &data,
                const FitConfig &config, const std::optional<Checkpoint> &resume,
                std::ostream &out, monitor::Monitor *monitor = nullptr);

/// The learning-rate range test (`--lr-find`): up to one epoch of train steps with the rate rising
/// exponentially from 1e-7 to 10, stopping once the loss explodes; writes `prefix`.csv and
/// `prefix`.svg, prints the suggested rate, and puts every parameter back as it was.
nnc::Status findLr(Executor &executor, const FitBinding &binding, const DataSplits &data,
                   const FitConfig &config, const std::string &prefix, std::ostream &out);

/// "last.ckpt" and "best.ckpt" under the checkpoint directory.
std::string lastCheckpointPath(const std::string &dir);
std::string bestCheckpointPath(const std::string &dir);

} // namespace nnrt::trainer
