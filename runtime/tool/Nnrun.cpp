// nnrun: load a plan, run "init", optionally load parameters, train with "train_step" on stacked
// .npy batches or fit it on a dataset (runtime/trainer), dump the parameters, then run "predict"
// on one .npy input and write its first output. Every failure becomes one line on stderr and exit
// code 1, naming the file it concerns. The command line is NnrunArgs.cpp's.
#include "runtime/tool/Nnrun.h"
#include "export/OnnxExporter.h"

#include "runtime/Executor.h"
#include "runtime/Npy.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"
#include "runtime/collective/RankLayout.h"
#include "runtime/device/Drivers.h"
#include "runtime/tool/NnrunArgs.h"
#include "runtime/tool/ProfileJson.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/Dataset.h"
#include "runtime/trainer/FitCommand.h"
#include "runtime/trainer/PipelineLoop.h"
#include "runtime/trainer/Predict.h"
#include "runtime/trainer/StopSignals.h"
#include "runtime/trainer/TrainLoop.h"
#include "support/Version.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include <omp.h>

namespace nnrt {
namespace {

/// --predict's inputs, in the order of predict's, with the files they came from.
struct PredictInputs {
  std::vector<HostTensor> tensors;
  std::vector<std::string> files;
  std::vector<std::string> outputFiles; // -o's, one per predict output
};

/// "a.npy,b.npy" -> {"a.npy", "b.npy"} (--predict's inputs, -o's outputs).
std::vector<std::string> splitCommas(const std::string &list) {
  std::vector<std::string> parts;
  for (size_t start = 0; start <= list.size();) {
    size_t comma = std::min(list.find(',', start), list.size());
    parts.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

/// Predict's output names, "logits, mask", for messages.
std::string predictOutputNames(const nnc::Function &predict) {
  std::string names;
  for (const nnc::TensorSlice &slot : predict.outputs())
    names += (names.empty() ? "" : ", ") + slot.name();
  return names;
}

/// A parameter name as a file name: '/' would make a directory, so it becomes '_'.
std::string fileNameOf(std::string name) {
  for (char &c : name)
    if (c == '/' || c == '\0')
      c = '_';
  return name == "." || name == ".." ? "_" + name : name;
}

/// Every parameter as DIR/<name>.npy (whole tensors: ZeRO-1's shards gathered, which every rank
/// must do, as `gathered`; else read here), and the input normalization training applied.
std::optional<NnrunFailure> dumpParameters(
    const Executor &executor, const std::string &dir,
    const std::optional<trainer::Normalization> &norm,
    std::optional<std::vector<std::pair<std::string, HostTensor>>> gathered = std::nullopt) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    return NnrunFailure{dir + ": cannot create directory: " + error.message()};
  if (!gathered) {
    nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> read =
        trainer::captureParameters(executor);
    if (!read.ok())
      return NnrunFailure{dir + ": " + read.status().message()};
    gathered = std::move(*read);
  }
  std::vector<std::pair<std::string, HostTensor>> tensors = std::move(*gathered);
  if (norm)
    for (auto &tensor : norm->tensors())
      tensors.push_back(std::move(tensor));
  for (const auto &[name, value] : tensors)
    if (nnc::Status s =
            writeNpy(std::filesystem::path(dir) / (fileNameOf(name) + ".npy"), value);
        !s.ok())
      return NnrunFailure{s.message()};
  return std::nullopt;
}

/// A tensor-parallel rank that does not write: it takes part in the gather of every split
/// parameter that its tensor group's writer reads (Executor::read is a collective there).
std::optional<NnrunFailure> gatherForWriter(const Executor &executor, const std::string &dir) {
  for (const nnc::TensorSlice &parameter : executor.plan().parameters())
    if (nnc::StatusOr<HostTensor> value = executor.read(parameter); !value.ok())
      return NnrunFailure{dir + ": parameter '" + parameter.name() + "': " +
                          value.status().message()};
  return std::nullopt;
}

std::optional<NnrunFailure> loadParameters(Executor &executor, const std::string &dir) {
  for (const nnc::TensorSlice &parameter : executor.plan().parameters()) {
    std::string path = (std::filesystem::path(dir) / (fileNameOf(parameter.name()) + ".npy"));
    // Model weights must all be there; optimizer state may be absent (it then starts at zero).
    if (parameter.optimizer_state() && !std::filesystem::exists(path))
      continue;
    nnc::StatusOr<HostTensor> value = readNpy(path);
    if (!value.ok())
      return NnrunFailure{value.status().message()};
    if (nnc::Status s = checkType(*value, Executor::logicalOf(parameter).type()); !s.ok())
      return NnrunFailure{path + ": parameter '" + parameter.name() + "': " + s.message()};
    if (nnc::Status s = executor.writeParameter(parameter, *value); !s.ok())
      return NnrunFailure{path + ": " + s.message()};
  }
  return std::nullopt;
}

/// Runs "init", then --load-parameters or --checkpoint, whose input normalization (if it has
/// one) goes to `norm`; `where` names the plan (and stage) in errors.
std::optional<NnrunFailure> initialize(Executor &exec, const NnrunOptions &options,
                                  const std::string &where,
                                  std::optional<trainer::Normalization> *norm = nullptr) {
  if (exec.function("init"))
    if (nnc::Status s = exec.run("init"); !s.ok())
      return NnrunFailure{where + ": " + s.message()};
  std::vector<std::pair<std::string, HostTensor>> normTensors;
  std::string normSource = options.loadDir;
  if (!options.loadDir.empty()) {
    if (std::optional<NnrunFailure> failure = loadParameters(exec, options.loadDir))
      return failure;
    for (const char *name : {trainer::kMeanTensor, trainer::kStddevTensor}) {
      std::string path = std::filesystem::path(options.loadDir) / (fileNameOf(name) + ".npy");
      if (!std::filesystem::exists(path))
        continue;
      nnc::StatusOr<HostTensor> tensor = readNpy(path);
      if (!tensor.ok())
        return NnrunFailure{tensor.status().message()};
      normTensors.emplace_back(name, std::move(*tensor));
    }
  }
  if (!options.checkpoint.empty()) {
    normSource = options.checkpoint;
    nnc::StatusOr<trainer::Checkpoint> checkpoint = trainer::readCheckpoint(options.checkpoint);
    if (!checkpoint.ok())
      return NnrunFailure{checkpoint.status().message()};
    if (nnc::Status s = trainer::checkCheckpointFits(*checkpoint, exec.plan(), options.checkpoint);
        !s.ok())
      return NnrunFailure{s.message()};
    if (nnc::Status s = trainer::restoreParameters(exec, *checkpoint); !s.ok())
      return NnrunFailure{options.checkpoint + ": " + s.message()};
    normTensors = std::move(checkpoint->tensors);
  }
  nnc::StatusOr<std::optional<trainer::Normalization>> found =
      trainer::Normalization::fromTensors(normTensors, normSource);
  if (!found.ok())
    return NnrunFailure{found.status().message()};
  if (norm)
    *norm = std::move(*found);
  return std::nullopt;
}

/// --train's rate: --lr, else the rate the model was given (as --fit takes it), else 0.01.
float trainingRate(const NnrunOptions &options, const nnc::Plan &plan) {
  double specified = plan.training().optimizer().learning_rate();
  return options.learningRate.value_or(specified > 0 ? float(specified) : 0.01f);
}

/// --features and --labels, read whole.
std::optional<NnrunFailure> readTrainData(const NnrunOptions &options, TrainData &data) {
  data.featuresPath = options.features;
  data.labelsPath = options.labels;
  for (auto [path, into] : {std::pair{&options.features, &data.features},
                            std::pair{&options.labels, &data.labels}}) {
    nnc::StatusOr<HostTensor> read = readNpy(*path);
    if (!read.ok())
      return NnrunFailure{read.status().message()};
    if (into == &data.features && !options.fit.data.allowNonfinite)
      if (nnc::Status s = trainer::checkFinite(*read, *path, "feature"); !s.ok())
        return NnrunFailure{s.message()};
    *into = std::move(*read);
  }
  return std::nullopt;
}

void printStep(std::ostream &out, int64_t step, float loss) {
  char line[64];
  std::snprintf(line, sizeof line, "step %lld loss %.9g\n", static_cast<long long>(step),
                static_cast<double>(loss));
  out << line;
}

/// --fit's checks on a pipelined plan, before any work: its logical plan and the pipeline's
/// binding stand for it (checkpoints hold the whole model's tensors).
nnc::StatusOr<trainer::FitJob> preparePipelineFit(const NnrunOptions &options, std::ostream &out,
                                                  const nnc::Plan &plan,
                                                  const RankLayout &layout) {
  nnc::StatusOr<trainer::FitBinding> binding = bindPipelineFit(plan.pipeline(), options.plan);
  if (!binding.ok())
    return binding.status();
  return trainer::prepareFit(logicalPlan(plan), options.plan, options.fit, out,
                             layout.dataGroup(), &*binding);
}

/// --fit on this rank's stage: steps, evaluations and checkpoints through PipelineFit.
std::optional<NnrunFailure> fitPipelined(Executor &exec, const nnc::Plan &plan,
                                         const RankLayout &layout, trainer::FitJob &job,
                                         std::ostream &out) {
  nnc::StatusOr<std::unique_ptr<PipelineFit>> pipeline =
      PipelineFit::create(exec, plan.pipeline(), layout.stage, layout.pipelineGroup(),
                          layout.dataGroup(), job.config.seed, job.config.planPath);
  if (!pipeline.ok())
    return NnrunFailure{pipeline.status().message()};
  job.config.pipeline = pipeline->get();
  if (nnc::Status s = trainer::runFit(exec, job, out); !s.ok())
    return NnrunFailure{s.message()};
  return std::nullopt;
}

/// This rank's stage of a pipelined plan (runPipelined).
std::optional<NnrunFailure> runStage(const NnrunOptions &options, std::ostream &out,
                                     const nnc::Plan &plan, Device &device,
                                     const RankLayout &layout) {
  const std::string &planPath = options.plan;
  int stage = layout.stage;
  TrainData data;
  std::optional<PipelineBinding> binding;
  if (options.trainSteps > 0) {
    if (std::optional<NnrunFailure> failure = readTrainData(options, data))
      return failure;
    nnc::StatusOr<PipelineBinding> bound =
        bindPipelineStage(plan.pipeline(), stage, planPath, data);
    if (!bound.ok())
      return NnrunFailure{bound.status().message()};
    binding = std::move(*bound);
  }
  std::optional<trainer::FitJob> fitJob;
  if (options.fit.enabled) {
    nnc::StatusOr<trainer::FitJob> job = preparePipelineFit(options, out, plan, layout);
    if (!job.ok())
      return NnrunFailure{job.status().message()};
    fitJob = std::move(*job);
  }
  std::string where = planPath + ": pipeline stage " + std::to_string(stage);
  nnc::StatusOr<std::unique_ptr<Executor>> executor =
      Executor::prepare(plan.pipeline().stages(stage).plan(), device);
  if (!executor.ok())
    return NnrunFailure{where + ": " + executor.status().message()};
  Executor &exec = **executor;
  if (options.adaptiveThreads) // issue 23; each stage's functions choose for themselves
    exec.enableAdaptiveThreads();
  if (options.printArena)
    out << "arena: " << exec.arenaBytes() << " bytes (pipeline stage " << stage << ")\n";
  // Gradient means among the stage's replicas; the sums over stages along the pipeline; a split
  // layer's sums among its tensor group (whose ranks init draws its part for).
  exec.setCommunicator(layout.dataGroup());
  exec.setPipelineGroup(layout.pipelineGroup());
  exec.setTensorGroup(layout.tensorGroup());
  if (std::optional<NnrunFailure> failure = initialize(exec, options, where))
    return failure;
  if (binding) {
    TrainOptions trainOptions;
    trainOptions.steps = options.trainSteps;
    trainOptions.learningRate = trainingRate(options, plan);
    trainOptions.seed = plan.seed();
    trainOptions.group = layout.pipelineGroup();
    auto print = [&out](int64_t step, float loss) { printStep(out, step, loss); };
    if (nnc::Status s =
            trainPipeline(exec, *binding, data, trainOptions, layout.dataGroup(), print);
        !s.ok())
      return NnrunFailure{planPath + ": " + s.message()};
  }
  if (fitJob)
    if (std::optional<NnrunFailure> failure = fitPipelined(exec, plan, layout, *fitJob, out))
      return failure;
  // Each stage holds its own parameters, the same on its replicas: data rank 0 writes them,
  // its tensor rank 0 where the stage's layers are split.
  if (!options.dumpDir.empty() && layout.dataRank == 0)
    return layout.tensorRank == 0 ? dumpParameters(exec, options.dumpDir, std::nullopt)
                                  : gatherForWriter(exec, options.dumpDir);
  return std::nullopt;
}

/// A pipelined plan: rank (p*D + d)*T + t of `mpirun -np D*P*T` trains part t of stage p as
/// data rank d (--train or --fit; RankLayout.h), then data rank 0 of each stage writes that
/// stage's parameters with --dump-parameters.
std::optional<NnrunFailure> runPipelined(const NnrunOptions &options, std::ostream &out,
                                         Communicator *group, const nnc::Plan &plan,
                                         Device &device) {
  const std::string &planPath = options.plan;
  if (!options.predict.empty() || !options.exportOnnx.empty())
    return NnrunFailure{planPath + ": a pipelined plan trains with --train or --fit (--predict "
                                   "and --export-onnx run on plans of one stage: give them "
                                   "its --fit checkpoint)"};
  const nnc::TrainingSpec &training = plan.pipeline().stages(0).plan().training();
  RankShape shape;
  shape.data = int(std::max<int64_t>(1, training.data_parallel().world_size()));
  shape.pipeline = plan.pipeline().stages_size();
  shape.tensor = int(std::max<int64_t>(1, training.tensor_parallel()));
  nnc::StatusOr<RankLayout> layout = makeRankLayout(group, shape, planPath);
  if (!layout.ok())
    return NnrunFailure{layout.status().message(), 1, /*sameOnEveryRank=*/true};
  out << layout->describe() << "\n";
  std::optional<NnrunFailure> failure = runStage(options, out, plan, device, *layout);
  if (failure) { // closing would wait, in each group's last barrier, for peers that are gone
    layout->abandon();
    return failure;
  }
  if (nnc::Status s = layout->close(); !s.ok())
    return NnrunFailure{s.message()};
  return std::nullopt;
}

/// "warning: predict: 2 of 100 rows have non-finite outputs (rows 4, 17)": a NaN input, or
/// weights that diverged, must not pass for a prediction.
void warnNonFiniteRows(const HostTensor &result, int64_t rows, std::ostream &out) {
  if (result.dtype != nnc::F32 || result.shape.empty() || result.shape[0] != rows || rows == 0)
    return;
  const auto *values = reinterpret_cast<const float *>(result.data.data());
  int64_t width = int64_t(result.data.size() / sizeof(float)) / rows;
  std::vector<int64_t> bad;
  for (int64_t r = 0; r < rows; ++r)
    if (!std::all_of(values + r * width, values + (r + 1) * width,
                     [](float v) { return std::isfinite(v); }))
      bad.push_back(r);
  if (bad.empty())
    return;
  std::string list;
  for (size_t i = 0; i < std::min<size_t>(bad.size(), 8); ++i)
    list += (i ? ", " : "") + std::to_string(bad[i]);
  out << "warning: predict: " << bad.size() << " of " << rows
      << " rows have non-finite outputs (row" << (bad.size() > 1 ? "s " : " ") << list
      << (bad.size() > 8 ? ", ..." : "") << ")\n";
}

/// nnrun --profile: per function that ran, its time per call and its slowest commands.
void printProfile(const Executor &exec, std::ostream &out) {
  constexpr size_t kShown = 25;
  std::vector<Executor::CommandTime> times = exec.commandTimes();
  std::vector<std::string> functions;
  for (const Executor::CommandTime &t : times)
    if (std::find(functions.begin(), functions.end(), t.function) == functions.end())
      functions.push_back(t.function);
  for (const std::string &function : functions) {
    std::vector<Executor::CommandTime> own;
    double total = 0;
    int64_t calls = 0;
    for (const Executor::CommandTime &t : times)
      if (t.function == function) {
        own.push_back(t);
        total += t.seconds;
        calls = std::max(calls, t.calls);
      }
    std::sort(own.begin(), own.end(),
              [](const auto &a, const auto &b) { return a.seconds > b.seconds; });
    std::map<std::string, double> byKind; // "kernel", "gemm", ...: the command's first word
    for (const Executor::CommandTime &t : own)
      byKind[t.command.substr(0, t.command.find(' '))] += t.seconds;
    std::string kinds;
    for (const auto &[kind, seconds] : byKind)
      kinds += (kinds.empty() ? "" : ", ") + kind + " " +
               std::to_string(int64_t(1e6 * seconds / double(calls))) + " us";
    char line[512];
    std::snprintf(line, sizeof line,
                  "profile: %s, %.3f ms per call (%lld call%s, %zu command%s: %s); slowest:\n",
                  function.c_str(), 1e3 * total / double(calls), static_cast<long long>(calls),
                  calls == 1 ? "" : "s", own.size(), own.size() == 1 ? "" : "s", kinds.c_str());
    out << line;
    for (size_t i = 0; i < std::min(kShown, own.size()); ++i) {
      std::snprintf(line, sizeof line, "  %9.3f ms %5.1f%%  %s\n",
                    1e3 * own[i].seconds / double(own[i].calls), 100 * own[i].seconds / total,
                    own[i].command.c_str());
      out << line;
    }
  }
}

/// The places results go, checked before any work: a run must not train for an hour and then
/// find it cannot write.
std::optional<NnrunFailure> checkOutputs(const NnrunOptions &options) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!options.dumpDir.empty()) {
    if (fs::exists(options.dumpDir, error) && !fs::is_directory(options.dumpDir, error))
      return NnrunFailure{options.dumpDir + ": --dump-parameters needs a directory, not a file"};
    fs::create_directories(options.dumpDir, error);
    if (error)
      return NnrunFailure{options.dumpDir + ": cannot create directory: " + error.message()};
  }
  for (const std::string &output : options.output.empty() ? std::vector<std::string>()
                                                            : splitCommas(options.output)) {
    fs::path parent = fs::path(output).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, error))
      return NnrunFailure{output + ": cannot write: no directory " + parent.string()};
    if (fs::is_directory(output, error))
      return NnrunFailure{output + ": cannot write: it is a directory"};
  }
  return std::nullopt;
}

/// --predict's function and inputs (one .npy per input, comma-separated), checked before any
/// work: a wrong .npy should not cost an init.
std::optional<NnrunFailure> readPredictInputs(const NnrunOptions &options, const nnc::Plan &plan,
                                              const nnc::Function *&predict,
                                              PredictInputs &inputs) {
  nnc::StatusOr<const nnc::Function *> found = findPredict(plan, options.plan);
  if (!found.ok())
    return NnrunFailure{found.status().message()};
  predict = *found;
  for (const std::string &path : splitCommas(options.predict)) {
    nnc::StatusOr<HostTensor> read = readNpy(path);
    if (!read.ok())
      return NnrunFailure{read.status().message()};
    if (!options.fit.data.allowNonfinite && !read->shape.empty() && read->shape[0] > 0)
      if (nnc::Status s = trainer::checkFinite(*read, path, "feature"); !s.ok())
        return NnrunFailure{s.message()};
    inputs.tensors.push_back(std::move(*read));
    inputs.files.push_back(path);
  }
  if (inputs.tensors.size() != size_t(predict->inputs_size()))
    return NnrunFailure{"--predict: the plan's predict takes " +
                        std::to_string(predict->inputs_size()) + " input" +
                        (predict->inputs_size() > 1 ? "s" : "") + " (" +
                        predictInputNames(*predict) + "): give one .npy each, comma-separated"};
  // Any number of rows: predict runs batch by batch (the last one zero-padded).
  if (nnc::Status s = checkPredictInputs(*predict, inputs.tensors, inputs.files); !s.ok())
    return NnrunFailure{s.message()};
  inputs.outputFiles = splitCommas(options.output);
  if (inputs.outputFiles.size() != size_t(predict->outputs_size()))
    return NnrunFailure{"-o: the plan's predict has " + std::to_string(predict->outputs_size()) +
                        " output" + (predict->outputs_size() > 1 ? "s" : "") + " (" +
                        predictOutputNames(*predict) + "): give one .npy each, comma-separated"};
  return std::nullopt;
}

/// --train's data, matched to the plan's step before anything runs.
std::optional<NnrunFailure> bindTrainData(const NnrunOptions &options, const nnc::Plan &plan,
                                          TrainData &data,
                                          std::optional<trainer::StepBinding> &binding) {
  if (std::optional<NnrunFailure> failure = readTrainData(options, data))
    return failure;
  nnc::StatusOr<trainer::StepBinding> bound = bindTrainStep(plan, options.plan, data);
  if (!bound.ok())
    return NnrunFailure{bound.status().message()};
  binding = std::move(*bound);
  return std::nullopt;
}

/// --train: options.trainSteps steps, a line per step, and a line per fp16 overflow or skipped
/// update.
std::optional<NnrunFailure> runTrain(const NnrunOptions &options, Executor &exec,
                                     const trainer::StepBinding &binding, const TrainData &data,
                                     Communicator *group, std::ostream &out) {
  TrainOptions trainOptions;
  trainOptions.steps = options.trainSteps;
  trainOptions.learningRate = trainingRate(options, exec.plan());
  trainOptions.seed = exec.plan().seed();
  trainOptions.group = group;
  auto print = [&out](int64_t step, float loss) { printStep(out, step, loss); };
  float skipped = 0;  // fp16: say when a step overflowed and was skipped
  trainOptions.onLossScale = [&out, &skipped](int64_t step, const LossScaleReading &r) {
    if (r.skipped == skipped)
      return;
    skipped = r.skipped;
    char line[256];
    std::snprintf(line, sizeof line,
                  "overflow at step %lld (first in the gradient of %s): step skipped, loss "
                  "scale now %g (%g skipped)\n",
                  static_cast<long long>(step), r.overflowed.c_str(), double(r.scale),
                  double(r.skipped));
    out << line;
  };
  trainOptions.skipNonFinite = options.fit.skipNonFinite;
  trainOptions.onSkipped = [&out](int64_t, const std::string &message) {
    out << message << ": step skipped, parameters kept\n";
  };
  trainer::StopSignals stopSignals(group ? group->signalNote() : nullptr);
  if (nnc::Status s = train(exec, binding, data, trainOptions, print); !s.ok())
    return NnrunFailure{s.message().rfind("interrupted", 0) == 0 ? s.message()
                                                                 : options.plan + ": " +
                                                                       s.message()};
  return std::nullopt;
}

/// --predict (and --time): predict over every row of the inputs, each output written to its -o
/// file.
std::optional<NnrunFailure> runPredict(const NnrunOptions &options, Executor &exec,
                                       const nnc::Function &predict, PredictInputs inputs,
                                       const std::optional<trainer::Normalization> &norm,
                                       std::ostream &out) {
  const Shape &shape = inputs.tensors[0].shape;
  int64_t rows = shape.empty() ? 1 : shape[0];
  nnc::StatusOr<std::vector<HostTensor>> results =
      predictOutputs(exec, predict, std::move(inputs.tensors), norm ? &*norm : nullptr,
                     inputs.files, options.plan);
  if (!results.ok())
    return NnrunFailure{results.status().message()};
  for (int i = 0; i < options.timedRuns; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return NnrunFailure{options.plan + ": " + s.message()};
    auto elapsed = std::chrono::steady_clock::now() - start;
    out << "predict_us "
        << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << "\n";
  }
  for (size_t i = 0; i < results->size(); ++i) {
    warnNonFiniteRows((*results)[i], rows, out);
    if (nnc::Status s = writeNpy(inputs.outputFiles[i], (*results)[i]); !s.ok())
      return NnrunFailure{s.message()};
  }
  return std::nullopt;
}

/// A rank that writes nothing while rank 0 dumps, exports and predicts. On a tensor-parallel
/// plan those read split parameters and run split layers, collectives of its tensor group, and
/// ZeRO-1's optimizer state is gathered from every rank, so it takes part in each, in the
/// writer's order: the dump's and the export's parameter gathers, the predict runs (the logits
/// come out whole on every rank).
std::optional<NnrunFailure> followWriter(const NnrunOptions &options, Executor &exec,
                                         const nnc::Function *predict, PredictInputs inputs,
                                         const std::optional<trainer::Normalization> &norm,
                                         bool gathered) {
  if (exec.plan().training().tensor_parallel() <= 1 && !exec.hasShardedParameters())
    return std::nullopt;
  if (!options.dumpDir.empty() && !gathered)
    if (std::optional<NnrunFailure> failure = gatherForWriter(exec, options.dumpDir))
      return failure;
  if (!options.exportOnnx.empty() && exec.plan().has_model()) // the writer's captureParameters
    if (auto values = trainer::captureParameters(exec); !values.ok())
      return NnrunFailure{options.exportOnnx + ": " + values.status().message()};
  if (!predict)
    return std::nullopt;
  nnc::StatusOr<std::vector<HostTensor>> results =
      predictOutputs(exec, *predict, std::move(inputs.tensors), norm ? &*norm : nullptr,
                     inputs.files, options.plan);
  if (!results.ok())
    return NnrunFailure{results.status().message()};
  for (int i = 0; i < options.timedRuns; ++i)
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return NnrunFailure{options.plan + ": " + s.message()};
  return std::nullopt;
}

/// The executor for `plan`, told its ranks; refused when ranks would train separate models.
nnc::StatusOr<std::unique_ptr<Executor>> prepareExecutor(const NnrunOptions &options,
                                                         nnc::Plan plan, Device &device,
                                                         bool training, Communicator *group,
                                                         const RankLayout *layout) {
  nnc::StatusOr<std::unique_ptr<Executor>> executor = Executor::prepare(std::move(plan), device);
  if (!executor.ok())
    return nnc::Status::error(options.plan + ": " + executor.status().message());
  if (training && group && group->size() > 1 && !(*executor)->hasCollectives())
    return nnc::Status::error(options.plan + ": the plan was compiled without data "
                              "parallelism, so " + std::to_string(group->size()) +
                              " ranks would train separate models (nnc compile "
                              "--data-parallel N)");
  // ZeRO-1 (issue 20): each rank holds 1/N of the optimizer state, for exactly N ranks.
  int64_t shards = (*executor)->plan().training().data_parallel().world_size();
  int ranks = layout ? layout->data : group ? group->size() : 1; // the replicas of each part
  if ((*executor)->hasShardedParameters() && shards != ranks)
    return nnc::Status::error(options.plan + ": the plan shards its optimizer state over " +
                              std::to_string(shards) + " ranks (--zero 1), not " +
                              std::to_string(ranks) + ": run it with mpirun -np " +
                              std::to_string(shards));
  (*executor)->setCommunicator(group);
  if (layout) { // tensor parallelism: gradient means over the replicas, sums over the parts
    (*executor)->setCommunicator(layout->dataGroup());
    (*executor)->setTensorGroup(layout->tensorGroup());
  }
  if (options.profile)
    (*executor)->enableProfiling();
  if (options.adaptiveThreads) // issue 23
    (*executor)->enableAdaptiveThreads();
  return executor;
}

/// nnrun on a plan of one stage, in order: check the inputs and outputs of every mode asked
/// for; prepare and initialize the executor; train (--train or --fit); then rank 0 dumps the
/// parameters and predicts. `layout`: tensor parallelism's groups, or null.
std::optional<NnrunFailure> runPlan(const NnrunOptions &options, std::ostream &out,
                                    Communicator *group, nnc::Plan plan, Device &device,
                                    const RankLayout *layout) {
  const std::string &planPath = options.plan;
  const nnc::Function *predict = nullptr;
  PredictInputs predictInputs;
  if (!options.predict.empty())
    if (std::optional<NnrunFailure> failure =
            readPredictInputs(options, plan, predict, predictInputs))
      return failure;
  TrainData data;
  std::optional<trainer::StepBinding> binding;
  if (options.trainSteps > 0)
    if (std::optional<NnrunFailure> failure = bindTrainData(options, plan, data, binding))
      return failure;
  // And --fit's data, schedule and checkpoint.
  std::optional<trainer::FitJob> fitJob;
  if (options.fit.enabled) {
    nnc::StatusOr<trainer::FitJob> job =
        trainer::prepareFit(plan, planPath, options.fit, out, group);
    if (!job.ok())
      return NnrunFailure{job.status().message()};
    fitJob = std::move(*job);
  }

  bool training = binding || fitJob;
  nnc::StatusOr<std::unique_ptr<Executor>> executor =
      prepareExecutor(options, std::move(plan), device, training, group, layout);
  if (!executor.ok())
    return NnrunFailure{executor.status().message()};
  Executor &exec = **executor;
  if (options.printArena)
    out << "arena: " << exec.arenaBytes() << " bytes\n";
  std::optional<trainer::Normalization> norm;  // of the inputs, as training applied it
  if (std::optional<NnrunFailure> failure = initialize(exec, options, planPath, &norm))
    return failure;
  // A plan that loads and initializes (checks worth having) but is asked for nothing more.
  if (!training && options.predict.empty() && options.dumpDir.empty() && !options.printArena &&
      options.exportOnnx.empty())
    return NnrunFailure{planPath + ": loads, but nothing to do (give --fit, --train, --predict, "
                                   "--dump-parameters, --export-onnx or --print-arena)",
                        2};
  if (binding)
    if (std::optional<NnrunFailure> failure = runTrain(options, exec, *binding, data, group, out))
      return failure;
  if (fitJob) {
    if (nnc::Status s = trainer::runFit(exec, *fitJob, out); !s.ok())
      return NnrunFailure{s.message()};
    norm = fitJob->data.normalization;
  }
  // ZeRO-1: every rank gives its optimizer-state shards before rank 0 writes the whole tensors.
  std::optional<std::vector<std::pair<std::string, HostTensor>>> gathered;
  if (!options.dumpDir.empty() && exec.hasShardedParameters()) {
    nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>> read =
        trainer::captureParameters(exec);
    if (!read.ok())
      return NnrunFailure{options.dumpDir + ": " + read.status().message()};
    gathered = std::move(*read);
  }
  // Every rank holds the same parameters and predictions; rank 0 writes them. Tensor-parallel
  // ranks hold parts: each reads every parameter with its group's rank 0 (a collective that
  // gathers them).
  if (group && group->rank() != 0)
    return followWriter(options, exec, predict, std::move(predictInputs), norm,
                        gathered.has_value());
  if (!options.dumpDir.empty())
    if (std::optional<NnrunFailure> failure =
            dumpParameters(exec, options.dumpDir, norm, std::move(gathered)))
      return failure;
  if (!options.exportOnnx.empty())
    if (nnc::Status s = nnc::exporter::exportPlanToOnnx(
            exec, norm ? norm->tensors() : nnc::exporter::NamedTensors(), planPath,
            options.exportOnnx);
        !s.ok())
      return NnrunFailure{s.message()};
  if (predict)
    if (std::optional<NnrunFailure> failure =
            runPredict(options, exec, *predict, std::move(predictInputs), norm, out))
      return failure;
  if (options.profile)
    printProfile(exec, out);
  if (!options.profileJson.empty()) // issue 23
    return writeProfileJson(exec, options.profileJson);
  return std::nullopt;
}

/// A tensor-parallel plan without pipeline stages: rank d*T + t holds part t of replica d
/// (RankLayout.h), the layout printed when there are replicas too.
std::optional<NnrunFailure> runTensorParallel(const NnrunOptions &options, std::ostream &out,
                                              Communicator *group, nnc::Plan plan,
                                              Device &device) {
  RankShape shape;
  shape.data = int(std::max<int64_t>(1, plan.training().data_parallel().world_size()));
  shape.tensor = int(plan.training().tensor_parallel());
  nnc::StatusOr<RankLayout> layout = makeRankLayout(group, shape, options.plan);
  if (!layout.ok())
    return NnrunFailure{layout.status().message(), 1, /*sameOnEveryRank=*/true};
  if (shape.data > 1)
    out << layout->describe() << "\n";
  std::optional<NnrunFailure> failure =
      runPlan(options, out, group, std::move(plan), device, &*layout);
  if (failure) { // closing would wait, in each group's last barrier, for peers that are gone
    layout->abandon();
    return failure;
  }
  if (nnc::Status s = layout->close(); !s.ok())
    return NnrunFailure{s.message()};
  return std::nullopt;
}

/// nnrun on any plan: pipelined, tensor-parallel, or neither (runPlan).
std::optional<NnrunFailure> run(const NnrunOptions &options, std::ostream &out,
                                Communicator *group) {
  if (std::optional<NnrunFailure> failure = checkOutputs(options))
    return failure;
  if (!options.profileJson.empty()) // issue 23
    if (std::optional<NnrunFailure> failure = createProfileJson(options.profileJson))
      return failure;
  nnc::StatusOr<nnc::Plan> plan = loadPlan(options.plan);
  if (!plan.ok())
    return NnrunFailure{plan.status().message()};
  nnc::StatusOr<std::unique_ptr<Device>> device = createDevice(options.device);
  if (!device.ok())
    return NnrunFailure{"--device: " + device.status().message()};
  if (plan->pipeline().stages_size() > 0)
    return runPipelined(options, out, group, *plan, **device);
  if (plan->training().tensor_parallel() > 1)
    return runTensorParallel(options, out, group, std::move(*plan), **device);
  return runPlan(options, out, group, std::move(*plan), **device, nullptr);
}

/// One line, whatever a message from dlerror or oneDNN contains.
std::string oneLine(std::string message) {
  for (char &c : message)
    if (c == '\n' || c == '\r')
      c = ' ';
  return message;
}

} // namespace

int nnrunMain(const std::vector<std::string> &args, std::ostream &out, std::ostream &err) {
  std::optional<NnrunFailure> failure;
  std::unique_ptr<Communicator> group;
  bool stuckInMpi = false; // the communicator's thread is inside MPI_Finalize for good
  try {
    NnrunOptions options;
    bool help = false, version = false;
    failure = parseArgs(args, options, help, version);
    options.fit.commandLine = "nnrun";
    for (const std::string &arg : args)
      options.fit.commandLine += " " + arg;
    if (!failure && help) {
      out << kUsage << trainer::kFitUsage;
      return 0;
    }
    if (!failure && version) {
      out << "nnrun " << NNC_VERSION_STRING << "\n";
      return 0;
    }
    // Under mpirun every rank runs this; rank 0 speaks for all of them.
    if (!failure && !help && launchedByMpi()) {
      nnc::StatusOr<std::unique_ptr<Communicator>> created =
          createCommunicator("mpi", std::chrono::seconds(options.collectiveTimeout));
      if (!created.ok())
        failure = NnrunFailure{"mpi: " + created.status().message()};
      else
        group = std::move(*created);
    }
    if (!failure && !help && options.collectiveStats && !group)
      failure = NnrunFailure{"--collective-stats: measures data parallelism, under mpirun"};
    // mpirun may start several ranks on one machine: unless OMP_NUM_THREADS says otherwise,
    // each rank's OpenMP pool (oneDNN's and the kernels') takes its share of the cores, as
    // torchrun does, instead of every rank spinning threads on every core.
    if (group && group->size() > 1 && !std::getenv("OMP_NUM_THREADS")) {
      const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
      int ranksHere = std::max(1, local ? std::atoi(local) : group->size());
      omp_set_num_threads(std::max(1, omp_get_num_procs() / ranksHere));
    }
    std::ostream quiet(nullptr);
    if (!failure)
      failure = run(options, group && group->rank() != 0 ? quiet : out, group.get());
    // Every rank waits for the others here, with the timeout: a rank that hangs before the end
    // fails the job (a rank that returned 0 would leave mpirun waiting for it forever).
    if (!failure && group && group->size() > 1)
      if (nnc::Status s = group->barrier("the end of the run"); !s.ok())
        failure = NnrunFailure{s.message()};
    if (!failure && options.collectiveStats) {
      nnc::StatusOr<std::string> line = summarizeCollectiveStats(*group);
      if (!line.ok())
        failure = NnrunFailure{line.status().message()};
      else if (group->rank() == 0)
        out << *line << "\n";
    }
    // The last barrier and MPI_Finalize, each bounded: a peer that stops just before
    // finalizing would otherwise leave this rank, and mpirun, waiting forever.
    if (!failure && group)
      if (nnc::Status s = group->close(); !s.ok()) {
        failure = NnrunFailure{s.message()};
        stuckInMpi = true;
      }
  } catch (const std::bad_alloc &) {
    failure = NnrunFailure{"out of memory"};
  } catch (const std::exception &e) {
    failure = NnrunFailure{std::string("internal error: ") + e.what()};
  }
  if (!failure)
    return 0;
  // SIGINT or SIGTERM stopped training: not an error; the message (every rank stopped after
  // the same step: rank 0's says it for all) says how to continue.
  if (int signal = trainer::StopSignals::received();
      signal && failure->message.rfind("interrupted", 0) == 0) {
    if (!group || group->rank() == 0)
      err << "nnrun: " << oneLine(failure->message) << "\n";
    return 128 + signal;
  }
  // A failure every rank has alike (the job's shape): rank 0 says it for all.
  if (failure->sameOnEveryRank && group && group->rank() != 0) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return failure->exitCode;
  }
  std::string rank = group && group->size() > 1 && !failure->sameOnEveryRank
                         ? "rank " + std::to_string(group->rank()) + " of " +
                               std::to_string(group->size())
                         : "";
  if (!rank.empty() && failure->message.find(rank + ":") == std::string::npos)
    failure->message = rank + ": " + failure->message;
  // One write: under mpirun, lines that ranks print at once must not interleave.
  err << "nnrun: error: " + oneLine(failure->message) + "\n";
  // Peers that hit the same failure (a silent rank every other one names) print their line
  // before mpirun, told that this rank ended, stops them.
  if (group && group->size() > 1)
    std::this_thread::sleep_for(std::chrono::seconds(1));
  if (stuckInMpi) { // exit() would run destructors under that thread
    err.flush();
    out.flush();
    std::fflush(nullptr);
    std::_Exit(failure->exitCode);
  }
  if (failure->exitCode == 2)  // the synopsis: what nnrun can be asked to do
    err << std::string(kUsage, std::strstr(kUsage, "\n\n") + 1) << "see nnrun --help\n";
  return failure->exitCode;
}

} // namespace nnrt
