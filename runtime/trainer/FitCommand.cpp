// The preparation of a --fit run: binding, data, configuration from the plan's TrainingSpec with
// the flags' overrides (FitFlags.cpp parses them), and the checkpoint to resume, all checked up
// front; then the run itself.
#include "runtime/trainer/FitCommand.h"

#include "runtime/trainer/PipelineLoop.h"

#include "runtime/collective/Communicator.h"
#include "runtime/trainer/StopSignals.h"
#include "support/Version.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>

namespace nnrt::trainer {

using nnc::Status;

namespace {

/// "<plan name>-<local date>-<time>", made unique under `tensorboardDir`; only characters that
/// need no quoting anywhere (checkpoints store it as one word).
std::string newRunName(const std::string &planPath, const std::string &tensorboardDir) {
  std::string stem = std::filesystem::path(planPath).stem().string();
  for (char &c : stem)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      c = '_';
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string name = (stem.empty() ? "run" : stem) + "-" + stamp;
  std::error_code error;
  for (int n = 2; !tensorboardDir.empty() &&
                  std::filesystem::exists(std::filesystem::path(tensorboardDir) / name, error);
       ++n)
    name = (stem.empty() ? "run" : stem) + "-" + stamp + "-" + std::to_string(n);
  return name;
}

/// A checkpoint's position means something only for the data, batch and schedule it was taken
/// with: refuse another training split or schedule, re-map the position to another global batch
/// when it falls on a whole batch of it, and let a finished run go on when more epochs are
/// asked for. Checkpoints from before these were recorded are taken as they are.
Status reconcileResume(TrainerState &state, const FitConfig &config, const DataSplits &data,
                       int64_t globalBatch, int64_t stepsPerEpoch, const std::string &path,
                       std::ostream &out) {
  const std::string restart = ", or start over in a new --checkpoint-dir";
  if (!state.dataDigest.empty() &&
      (state.trainExamples != data.train.size() || state.dataDigest != config.dataDigest))
    return Status::error(path + ": was written for another training split (" +
                         std::to_string(state.trainExamples) + " examples, digest " +
                         state.dataDigest + "; this run's: " +
                         std::to_string(data.train.size()) + ", " + config.dataDigest +
                         "): resume with the same --data, --val-fraction and --seed" + restart);
  std::string schedule = describeSchedule(config.schedule);
  if (!state.schedule.empty() && state.schedule != schedule)
    return Status::error(path + ": was written with another learning-rate schedule (" +
                         state.schedule + "; this run's: " + schedule +
                         "): resume with the same --lr and schedule flags" + restart);
  if (state.globalBatch > 0 && state.globalBatch != globalBatch) {
    int64_t consumed = state.batchInEpoch * state.globalBatch;
    if (consumed % globalBatch != 0)
      return Status::error(path + ": stopped " + std::to_string(consumed) + " examples into epoch " +
                           std::to_string(state.epoch + 1) + " in global batches of " +
                           std::to_string(state.globalBatch) + "; this run's global batch of " +
                           std::to_string(globalBatch) +
                           " (batch x ranks) cannot continue exactly there: resume with a global "
                           "batch that divides " + std::to_string(consumed) + restart);
    state.batchInEpoch = consumed / globalBatch;
    out << "note: " << path << ": " << consumed << " examples into epoch " << state.epoch + 1
        << ", continued in global batches of " << globalBatch << " (the checkpoint's: "
        << state.globalBatch << ")\n";
  }
  if (state.batchInEpoch >= stepsPerEpoch)
    return Status::error(path + ": field 'batch_in_epoch' is " +
                         std::to_string(state.batchInEpoch) + " but an epoch of this data has " +
                         std::to_string(stepsPerEpoch) + " batches");
  if (state.finished && state.epochsPlanned > 0 && config.epochs > state.epochsPlanned) {
    out << "note: " << path << ": the run finished its " << state.epochsPlanned
        << " epochs; training on to " << config.epochs << "\n";
    state.finished = false;
  } else if (state.finished) {
    out << "note: " << path << ": the run has finished (" << state.epoch
        << " epochs): nothing to train; --epochs above "
        << std::max(state.epochsPlanned, state.epoch) << " trains on\n";
  }
  return Status();
}

/// The recipe's schedule: the plan's TrainingSpec, then the flags (warm-up in epochs is made
/// steps once the data's size is known).
Status chooseSchedule(const nnc::TrainingSpec &spec, const FitOptions &o,
                      const FitBinding &binding, int64_t ranks, ScheduleConfig &schedule) {
  schedule = scheduleFromSpec(spec);
  if (o.schedule)
    schedule.kind = *o.schedule;
  if (o.lr)
    schedule.lr = *o.lr;
  if (o.referenceBatch) {  // Goyal et al.'s linear scaling rule, on the global batch
    // An update averages every rank's micro-batches: batch x ranks x accumulation steps.
    int64_t micro = binding.train.apply ? binding.train.apply->steps : 1;
    schedule.lr *= double(binding.batch * ranks * micro) / double(*o.referenceBatch);
  }
  if (o.warmupSteps && o.warmupEpochs)
    return Status::error("--warmup-epochs: give it or --warmup-steps, not both");
  if (o.warmupSteps)
    schedule.warmupSteps = *o.warmupSteps, schedule.warmupEpochs = 0;
  if (o.warmupEpochs)
    schedule.warmupEpochs = *o.warmupEpochs, schedule.warmupSteps = 0;
  if (o.minLr)
    schedule.minLr = *o.minLr;
  if (o.stepSize)
    schedule.stepSize = *o.stepSize;
  if (o.gamma)
    schedule.gamma = *o.gamma;
  if (o.patience)
    schedule.patience = *o.patience;
  return Status();
}

/// The checkpoint to resume, verified now so a bad one stops the run before it writes any, and
/// the run's name (its TensorBoard directory): a resumed run keeps its own, and continues its
/// metrics files from the checkpoint's step.
Status prepareResume(const nnc::Plan &plan, const FitOptions &o, int64_t globalBatch,
                     int64_t stepsPerEpoch, FitJob &job, std::ostream &out) {
  const std::string &planPath = job.config.planPath;
  FitConfig &config = job.config;
  std::string last = lastCheckpointPath(o.checkpointDir);
  if (o.resume && std::filesystem::exists(last)) {
    nnc::StatusOr<Checkpoint> checkpoint = readCheckpoint(last);
    if (!checkpoint.ok())
      return checkpoint.status();
    if (Status s = checkCheckpointFits(*checkpoint, plan, last); !s.ok())
      return s;
    if (checkpoint->modelSha256 != plan.metadata().model_sha256())
      out << "note: " << last << " was written for another model file (another batch size or "
          << "data-parallel degree?); its parameters fit this plan\n";
    TrainerState &state = checkpoint->state;
    if (state.seed != config.seed)
      return Status::error(last + ": field 'seed' is " + std::to_string(state.seed) +
                           " but this run's seed is " + std::to_string(config.seed));
    if (Status s = reconcileResume(state, config, job.data, globalBatch, stepsPerEpoch, last,
                                   out);
        !s.ok())
      return s;
    job.resume = std::move(*checkpoint);
  } else if (o.resume) {
    out << "no checkpoint at " << last << "; starting from the beginning\n";
  }
  if (job.resume)
    job.monitor.resumeStep = job.resume->state.step;
  config.runName = job.resume && !job.resume->state.runName.empty()
                       ? job.resume->state.runName
                       : newRunName(planPath, o.monitor.tensorboardDir);
  job.monitor.runName = config.runName;
  return Status();
}

/// "fit: 54000 train, ... examples; batch 128, 421 steps per epoch, ...", then the class names
/// a CSV gave and the normalization, when there are.
void printFitSummary(const FitJob &job, const FitOptions &o, int64_t ranks, int64_t stepsPerEpoch,
                     std::ostream &out) {
  const FitConfig &config = job.config;
  const ScheduleConfig &schedule = config.schedule;
  const DataSplits &d = job.data;
  out << "fit: " << d.train.size() << " train, " << d.validation.size() << " validation, "
      << d.test.size() << " test examples; batch " << job.binding.batch
      << (ranks > 1 ? " x " + std::to_string(ranks) + " ranks" : std::string()) << ", "
      << stepsPerEpoch
      << " steps per epoch, " << config.epochs << " epochs; lr " << schedule.lr << " "
      << scheduleKindName(schedule.kind);
  if (schedule.warmupSteps > 0)
    out << " (warm-up " << schedule.warmupSteps << " steps)";
  out << "; seed " << config.seed << "\n";
  if (o.classNames.empty() && !d.train.classNames.empty()) {
    out << "classes:";
    for (size_t c = 0; c < d.train.classNames.size(); ++c)
      out << (c ? ", " : " ") << c << " " << d.train.classNames[c];
    out << " (the label column's names, in sorted order)\n";
  }
  if (d.normalization)
    out << "normalization: " << d.normalization->describe()
        << " (the training split's statistics; checkpoints and dumped parameters keep them "
           "for --predict)\n";
}

/// A schedule that cannot play out within the run is legal but rarely meant: say so.
void warnAboutSchedule(const ScheduleConfig &schedule, int64_t epochs, std::ostream &out) {
  if (schedule.warmupSteps >= schedule.totalSteps)
    out << "warning: the warm-up (" << schedule.warmupSteps << " steps) outlasts the whole run ("
        << schedule.totalSteps << " steps): the learning rate never reaches " << schedule.lr
        << " (--warmup-steps, --warmup-epochs)\n";
  if (schedule.kind == nnc::LRSchedule::STEP && schedule.stepSize >= epochs)
    out << "warning: the step schedule first decays after epoch " << schedule.stepSize
        << ", but the run has " << epochs << " epochs: the rate stays constant "
        << "(--lr-step-size)\n";
}

std::string lowerCase(std::string text) {
  for (char &c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// The report's configuration table: what was trained, how, where, and by which versions.
std::vector<std::pair<std::string, std::string>>
describeRun(const nnc::Plan &plan, const std::string &planPath, const FitOptions &o,
            const FitJob &job, int64_t ranks) {
  const nnc::TrainingSpec &spec = plan.training();
  const FitConfig &config = job.config;
  const ScheduleConfig &schedule = config.schedule;
  auto number = [](double x) {
    std::ostringstream text;
    text << x;
    return text.str();
  };
  std::string optimizer = lowerCase(nnc::Optimizer::Kind_Name(spec.optimizer().kind()));
  if (spec.optimizer().weight_decay() > 0)
    optimizer += ", weight decay " + number(spec.optimizer().weight_decay());
  if (spec.grad_clip_norm() > 0)
    optimizer += ", gradient clipping at norm " + number(spec.grad_clip_norm());
  std::string lrSchedule = std::string(scheduleKindName(schedule.kind)) + ", peak lr " +
                           number(schedule.lr) + ", warm-up " +
                           std::to_string(schedule.warmupSteps) + " steps";
  if (schedule.kind == nnc::LRSchedule::WARMUP_COSINE)
    lrSchedule += ", min lr " + number(schedule.minLr);
  int64_t micro = job.binding.train.apply ? job.binding.train.apply->steps : 1;
  std::string batch = std::to_string(job.binding.batch);
  if (ranks > 1)
    batch += " x " + std::to_string(ranks) + " ranks";
  if (micro > 1)
    batch += " x " + std::to_string(micro) + " accumulated micro-batches";
  const nnc::PlanMetadata &meta = plan.metadata();
  return {
      {"model", std::filesystem::path(planPath).filename().string()},
      {"data", o.data.source + (o.data.testSource.empty() ? "" : ", test " + o.data.testSource)},
      {"optimizer", optimizer},
      {"schedule", lrSchedule},
      {"epochs", std::to_string(config.epochs)},
      {"batch", batch},
      {"precision", lowerCase(nnc::Precision::Kind_Name(spec.precision().kind()))},
      {"seed", std::to_string(config.seed)},
      {"run", config.runName},
      {"versions", "compiled by nnc " + meta.nnc_version() + ", run by nnrun " +
                       NNC_VERSION_STRING},
      {"command", o.commandLine},
  };
}

/// The recipe: the plan's TrainingSpec, then the flags.
Status configure(const nnc::Plan &plan, const std::string &planPath, const FitOptions &o,
                 int64_t ranks, FitJob &job) {
  const nnc::TrainingSpec &spec = plan.training();
  FitConfig &config = job.config;
  config.seed = o.seed.value_or(plan.seed());
  config.epochs = o.epochs.value_or(spec.epochs() > 0 ? spec.epochs() : 1);
  config.earlyStoppingPatience = o.earlyStopping.value_or(spec.early_stopping_patience());
  config.checkpointDir = o.checkpointDir;
  config.checkpointEvery = o.checkpointEvery;
  config.logSteps = o.logSteps;
  config.skipNonFinite = o.skipNonFinite;
  config.imageAugment = o.augment.image;
  if (o.augmentCrop)
    config.imageAugment.cropPadding = *o.augmentCrop;
  config.tabularAugment = o.augment.tabular;
  if (o.augment.tabular.mixupAlpha > 0 && !job.binding.softLabels)
    return Status::error("--mixup: " + planPath + " takes class ids as labels; mixup needs a "
                         "model whose labels are class probabilities, f32 (batch, classes)");
  config.textAugment = o.augment.text;
  job.lrFind = o.lrFind;
  job.monitor = o.monitor;
  job.title = std::filesystem::path(planPath).filename().string();
  config.modelSha256 = plan.metadata().model_sha256();
  config.planPath = planPath;
  return chooseSchedule(spec, o, job.binding, ranks, config.schedule);
}

/// The schedule sized to the data (steps per epoch, warm-up in epochs), and a validation loss
/// where early stopping or the plateau schedule needs one. Returns the steps per epoch.
nnc::StatusOr<int64_t> fitScheduleToData(const std::string &planPath, int64_t ranks,
                                         FitJob &job, std::ostream &out) {
  FitConfig &config = job.config;
  ScheduleConfig &schedule = config.schedule;
  int64_t stepsPerEpoch = job.data.train.size() / (job.binding.batch * ranks);
  if (stepsPerEpoch < 1)
    return Status::error(job.data.train.featuresFile + ": the training split holds " +
                         std::to_string(job.data.train.size()) +
                         " examples, fewer than one batch of " +
                         std::to_string(job.binding.batch * ranks));
  schedule.totalSteps = config.epochs * stepsPerEpoch;
  if (Status s = checkSchedule(schedule); !s.ok())
    return s;
  if (schedule.warmupEpochs > 0) {
    if (schedule.warmupSteps > 0)
      return Status::error(planPath + ": the TrainingSpec sets both lr_schedule.warmup_steps "
                                      "and warmup_epochs (--warmup-steps or --warmup-epochs "
                                      "overrides them)");
    schedule.warmupSteps = std::llround(schedule.warmupEpochs * double(stepsPerEpoch));
  }
  warnAboutSchedule(schedule, config.epochs, out);
  bool needsEval = config.earlyStoppingPatience > 0 ||
                   schedule.kind == nnc::LRSchedule::REDUCE_ON_PLATEAU;
  if (needsEval && (!job.binding.eval ||
                    (job.data.validation.size() == 0 && job.data.test.size() == 0)))
    return Status::error(std::string(config.earlyStoppingPatience > 0 ? "--early-stopping"
                                                                      : "--lr-schedule plateau") +
                         ": needs a validation loss: an eval_step in the plan and a "
                         "--val-fraction or test data");
  return stepsPerEpoch;
}

/// The classes' names: --class-names, else a CSV's label names; as many as the plan's classes.
Status nameClasses(const std::string &planPath, const FitOptions &o, FitJob &job) {
  int64_t classes = job.binding.model.numClasses;
  if (!o.classNames.empty() && classes > 0 && int64_t(o.classNames.size()) != classes)
    return Status::error("--class-names: gives " + std::to_string(o.classNames.size()) +
                         " names but " + planPath + " has " + std::to_string(classes) +
                         " classes");
  const std::vector<std::string> &names =
      o.classNames.empty() ? job.data.train.classNames : o.classNames;
  if (o.classNames.empty() && classes > 0 && int64_t(names.size()) > classes)
    return Status::error(job.data.train.labelsFile + ": names " + std::to_string(names.size()) +
                         " classes but " + planPath + " has " + std::to_string(classes));
  job.config.classNames = names;
  job.monitor.classNames = names;
  return Status();
}

} // namespace

nnc::StatusOr<FitJob> prepareFit(const nnc::Plan &plan, const std::string &planPath,
                                 const FitOptions &o, std::ostream &out, Communicator *group,
                                 const FitBinding *pipeline) {
  FitJob job;
  job.config.group = group;
  // Data-parallel ranks: a tensor-parallel replica's T ranks train on the same batches (a
  // pipeline's `group` is its stage's data group already: one rank per replica).
  int64_t ranks = (group ? group->size() : 1) /
                  (pipeline ? 1 : std::max<int64_t>(1, plan.training().tensor_parallel()));
  if (((group && group->size() > 1) || pipeline) && !o.lrFind.empty())
    return Status::error("--lr-find: runs on one process, not under mpirun");
  if (pipeline && o.sample.every > 0)
    return Status::error("--sample-every: " + planPath + " is pipelined; sample from its "
                         "checkpoint with a plan of one stage");
  nnc::StatusOr<FitBinding> binding = pipeline ? *pipeline : bindFit(plan, planPath);
  if (!binding.ok())
    return binding.status();
  job.binding = std::move(*binding);
  if (Status s = configure(plan, planPath, o, ranks, job); !s.ok())
    return s;

  // The data, checked against the plan.
  DataSpec data = o.data;
  data.seed = job.config.seed;
  nnc::StatusOr<DataSplits> splits = loadData(data, job.binding.model);
  if (!splits.ok())
    return splits.status();
  job.data = std::move(*splits);
  job.config.normalization = job.data.normalization;
  job.config.dataDigest = job.data.train.digest();
  nnc::StatusOr<int64_t> stepsPerEpoch = fitScheduleToData(planPath, ranks, job, out);
  if (!stepsPerEpoch.ok())
    return stepsPerEpoch.status();

  if (Status s = prepareResume(plan, o, job.binding.batch * ranks, *stepsPerEpoch, job, out);
      !s.ok())
    return s;
  if (o.sample.every > 0) {
    nnc::StatusOr<TextSampler> sampler = TextSampler::create(plan, planPath, job.data, o.sample);
    if (!sampler.ok())
      return sampler.status();
    job.sampler = std::move(*sampler);
  }
  if (Status s = nameClasses(planPath, o, job); !s.ok())
    return s;
  job.monitor.configuration = describeRun(plan, planPath, o, job, ranks);
  printFitSummary(job, o, ranks, *stepsPerEpoch, out);
  return job;
}

Status runFit(Executor &executor, const FitJob &job, std::ostream &out,
              std::vector<std::unique_ptr<monitor::Hook>> hooks) {
  nnc::StatusOr<std::unique_ptr<monitor::Monitor>> monitor =
      monitor::createMonitor(job.monitor, out, job.binding.model.numClasses, job.title);
  if (!monitor.ok())
    return monitor.status();
  for (std::unique_ptr<monitor::Hook> &hook : hooks)
    (*monitor)->add(std::move(hook));
  if (!job.lrFind.empty())
    return findLr(executor, job.binding, job.data, job.config, job.lrFind, out);
  bool reports = job.config.pipeline ? job.config.pipeline->writes()
                                     : !job.config.group || job.config.group->rank() == 0;
  FitConfig config = job.config;
  config.sampler = reports && job.sampler ? &*job.sampler : nullptr;
  // SIGINT/SIGTERM: a final checkpoint, then exit 130/143.
  StopSignals stopSignals(config.group ? config.group->signalNote() : nullptr);
  return fit(executor, job.binding, job.data, config, job.resume, out,
             reports ? monitor->get() : nullptr);
}

} // namespace nnrt::trainer
