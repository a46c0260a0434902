// `nnrun --fit`: its flags, and the two halves nnrun calls around the executor's creation —
// prepareFit checks everything (plan, data, schedule, the checkpoint to resume) before any work,
// so bad input costs no init and overwrites no checkpoint; runFit then trains.
#pragma once

#include "runtime/Executor.h"
#include "runtime/trainer/Sampler.h"
#include "runtime/trainer/Trainer.h"

#include <functional>
#include <optional>
#include <ostream>
#include <string>

namespace nnrt::trainer {

/// The --fit flags; unset optionals fall back on the plan's TrainingSpec.
struct FitOptions {
  bool enabled = false;  // --fit
  DataSpec data;
  std::optional<int64_t> epochs, warmupSteps, stepSize, patience, earlyStopping, referenceBatch;
  std::optional<double> lr, minLr, gamma, warmupEpochs;
  std::optional<nnc::LRSchedule::Kind> schedule;
  std::optional<uint64_t> seed;
  std::string checkpointDir;
  int64_t checkpointEvery = 0;
  bool resume = false, logSteps = false, skipNonFinite = false;
  monitor::MonitorOptions monitor;  // --progress, --metrics-jsonl, --tensorboard, --report
  struct {
    ImageAugmentConfig image;
    TabularAugmentConfig tabular;
    TextAugmentConfig text;
  } augment;                          // --augment-*, --feature-noise, --mask-tokens
  std::optional<int64_t> augmentCrop;
  std::string lrFind;               // --lr-find PREFIX
  SampleConfig sample;              // --sample-every, --sample-length, --sample-temperature
  std::vector<std::string> classNames;  // --class-names: per-class lines and the report
  std::string commandLine;              // as given, for the report's configuration
  std::vector<std::string> given;  // the flags seen, to refuse them without --fit
};

/// The usage text of the flags below.
extern const char *const kFitUsage;

/// If `flag` is one of --fit's flags (--lr excepted: nnrun shares it with --train), parses it,
/// taking its value from `value()` when it has one, and returns true; false if it is not ours.
nnc::StatusOr<bool> parseFitFlag(const std::string &flag,
                                 const std::function<nnc::StatusOr<std::string>()> &value,
                                 FitOptions &options);
/// Flag combinations: data flags need --fit, --fit needs --data, --resume needs a directory.
nnc::Status checkFitOptions(const FitOptions &options);

struct FitJob {
  FitBinding binding;
  DataSplits data;
  FitConfig config;
  std::optional<Checkpoint> resume;
  monitor::MonitorOptions monitor;
  std::string title;  // the report's: the plan's file name
  std::string lrFind; // --lr-find's output prefix: run the range test instead of training
  std::optional<TextSampler> sampler;  // --sample-every: a language model's generated text
};

/// `group`: data parallelism over mpirun's ranks (null: one process); an epoch is then
/// train / (batch x ranks) steps of every rank's batch together. `pipeline`: a pipelined plan's
/// binding (bindPipelineFit), with `plan` its logicalPlan; group is then the stage's replicas.
nnc::StatusOr<FitJob> prepareFit(const nnc::Plan &plan, const std::string &planPath,
                                 const FitOptions &options, std::ostream &out,
                                 Communicator *group = nullptr,
                                 const FitBinding *pipeline = nullptr);
/// Opens the monitor's sinks (an unwritable --report or --metrics-jsonl fails here, before any
/// step), then trains; under data parallelism rank 0 alone reports to them. `hooks` are sinks
/// of the caller's own (the Python package's callbacks), told everything the others are.
nnc::Status runFit(Executor &executor, const FitJob &job, std::ostream &out,
                   std::vector<std::unique_ptr<monitor::Hook>> hooks = {});

} // namespace nnrt::trainer
