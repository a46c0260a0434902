// nnrun: load a plan, run "init", optionally load parameters, train with "train_step" on stacked
// .npy batches or fit it on a dataset (runtime/trainer), dump the parameters, then run "predict"
// on one .npy input and write its first output. Every failure becomes one line on stderr and exit
// code 1, naming the file it concerns.
#include "runtime/tool/Nnrun.h"
#include "export/OnnxExporter.h"

#include "runtime/Executor.h"
#include "runtime/Npy.h"
#include "runtime/PipelineLoop.h"
#include "runtime/PlanLoader.h"
#include "runtime/Predict.h"
#include "runtime/TrainLoop.h"
#include "runtime/collective/Communicator.h"
#include "runtime/device/Drivers.h"
#include "runtime/trainer/Checkpoint.h"
#include "runtime/trainer/Dataset.h"
#include "runtime/trainer/FitCommand.h"
#include "runtime/trainer/StopSignals.h"
#include "support/Version.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include <omp.h>

namespace nnrt {
namespace {

constexpr const char *kUsage =
    R"(usage: nnrun MODEL.plan [--train STEPS --features X.npy --labels Y.npy]
                         [--fit --data SOURCE [training options]]
                         [--predict INPUT.npy -o OUTPUT.npy] [options]

Runs a plan compiled by `nnc compile`: its "init" function (parameters), then, with --train, its
"train_step" function STEPS times, then, with --predict, its "predict" function on one input,
writing the first output.

options:
  --train STEPS           run train_step STEPS times, printing "step <i> loss <loss>" after each
  --features FILE         .npy of N batches of train_step's features stacked along axis 0
                          (N*batch, ...); step i takes batch i mod N. The features input is
                          the one predict also takes, else the one whose type FILE fits
  --labels FILE           .npy of the N batches' labels (train_step's other input besides
                          nnc.learning_rate), stacked the same way
  --lr RATE               the learning rate fed to every step (default: the plan's
                          TrainingSpec, or 0.01 where it names none)
  --skip-nonfinite        go on after a step whose loss or gradients were not finite (the plan
                          kept every parameter; a line says where the value started) instead
                          of stopping
  --batch-order ORDER     sequential (default; the only order so far)
  --predict FILE          .npy input for the predict function (which must take exactly one
                          input): one batch, or any number of rows, run batch by batch
  -o, --output FILE       where to write predict's first output (.npy)
  --dump-parameters DIR   write every parameter (after training, if any) as DIR/<name>.npy
                          ('/' -> '_')
  --load-parameters DIR   after init, replace every parameter by DIR/<name>.npy (same naming;
                          each file must exist and match the parameter's shape and dtype;
                          optimizer state without a file keeps its initial zeros)
  --checkpoint FILE       after init, take every parameter from a --fit checkpoint (last.ckpt,
                          best.ckpt), for --predict or --dump-parameters
                          Both carry the input normalization --fit applied (nnc.input_mean,
                          nnc.input_stddev), which --predict then applies to its input too.
  --export-onnx FILE      write the predict graph as ONNX (opset 17) with the parameters (after
                          training, --checkpoint or --load-parameters) and the input
                          normalization, for ONNX Runtime and other inference engines
  --print-arena           print "arena: N bytes" (the plan's peak memory)
  --time N                after the first predict, run it N more times and print each call's
                          wall time ("predict_us <microseconds>"), for benchmarks
  --device NAME           cpu (default), cuda (a GPU through the CUDA driver), or null
                          (records calls, computes nothing)
  --collective-timeout S  data parallelism (mpirun -np N nnrun ...; a plan compiled with
                          --data-parallel): a collective that gets no answer within S seconds
                          (default 60) ends every rank with a message naming it
  --collective-stats      under mpirun, print one line at the end: the all-reduces per rank,
                          the time spent communicating (and of it, agreeing: the ranks' check,
                          which waits for the last to arrive) and blocked waiting for them
                          (mean per rank), and the fraction hidden behind compute
  --profile               time every command of every function run (synchronizing after each)
                          and print, per function, its time per call and its slowest commands
  --version               print nnrun's version
  -h, --help              show this help

exit status: 0 done, 1 an error (one line on stderr naming the file or flag), 2 a command line
with nothing to do, 130 / 143 stopped by SIGINT / SIGTERM (see --checkpoint-dir and --resume)

)";

struct Options {
  std::string plan, predict, output, dumpDir, loadDir, checkpoint, device = "cpu";
  std::string exportOnnx;  // --export-onnx FILE
  int timedRuns = 0;
  int collectiveTimeout = 60;  // seconds
  bool printArena = false;
  bool collectiveStats = false;
  bool profile = false;
  // --train; the flags below it only make sense with it, so parseArgs remembers which were given.
  int64_t trainSteps = 0;
  std::string features, labels;
  std::optional<float> learningRate;  // --lr; else trainingRate() of the plan
  std::vector<std::string> trainFlags;
  trainer::FitOptions fit;  // --fit and its flags (--lr included)
};

/// An error already phrased as "<file>: <problem>" (or "<flag>: <problem>").
struct Failure {
  std::string message;
  int exitCode = 1;  // 2: a command line that asks for nothing (the usage follows)
};

/// Every flag the usage texts name, for "did you mean" (the help is the list of what exists).
std::vector<std::string> knownFlags() {
  std::vector<std::string> flags;
  for (const char *text : {kUsage, trainer::kFitUsage}) {
    std::string usage = text;
    for (size_t at = usage.find("--"); at != std::string::npos; at = usage.find("--", at + 2)) {
      size_t end = at + 2;
      while (end < usage.size() && (std::isalnum(static_cast<unsigned char>(usage[end])) ||
                                    usage[end] == '-'))
        ++end;
      std::string flag = usage.substr(at, end - at);
      if (flag.size() > 3 && std::find(flags.begin(), flags.end(), flag) == flags.end())
        flags.push_back(flag);
    }
  }
  return flags;
}

/// " (did you mean --epochs?)" for a near miss of a real flag: within two edits, or a prefix.
std::string suggestFlag(const std::string &given) {
  auto distance = [](const std::string &a, const std::string &b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
      row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t bestDistance = 3;
  for (const std::string &flag : knownFlags()) {
    size_t d = flag.rfind(given, 0) == 0 && given.size() >= 4 ? 1 : distance(given, flag);
    if (d < bestDistance)
      best = flag, bestDistance = d;
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

std::optional<Failure> parseArgs(const std::vector<std::string> &args, Options &options,
                                 bool &help, bool &version) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i], value;
    bool hasInlineValue = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      hasInlineValue = true;
    }
    auto takeValue = [&](std::string &into) -> std::optional<Failure> {
      if (hasInlineValue) {
        into = value;
      } else if (i + 1 < args.size()) {
        into = args[++i];
      } else {
        return Failure{arg + ": missing value"};
      }
      if (into.empty())
        return Failure{arg + ": empty value"};
      return std::nullopt;
    };
    std::optional<Failure> failure;
    auto fitValue = [&]() -> nnc::StatusOr<std::string> {
      std::string into;
      if (std::optional<Failure> missing = takeValue(into))
        return nnc::Status::error(missing->message);
      return into;
    };
    nnc::StatusOr<bool> fitFlag = trainer::parseFitFlag(arg, fitValue, options.fit);
    if (!fitFlag.ok()) {
      failure = Failure{fitFlag.status().message()};
    } else if (*fitFlag) {
      // parsed
    } else if (arg == "-h" || arg == "--help") {
      help = true;
    } else if (arg == "--version") {
      version = true;
    } else if (arg == "--predict") {
      failure = takeValue(options.predict);
    } else if (arg == "-o" || arg == "--output") {
      failure = takeValue(options.output);
    } else if (arg == "--dump-parameters") {
      failure = takeValue(options.dumpDir);
    } else if (arg == "--load-parameters") {
      failure = takeValue(options.loadDir);
    } else if (arg == "--checkpoint") {
      failure = takeValue(options.checkpoint);
    } else if (arg == "--export-onnx") {
      failure = takeValue(options.exportOnnx);
    } else if (arg == "--device") {
      failure = takeValue(options.device);
    } else if (arg == "--collective-timeout") {
      std::string seconds;
      failure = takeValue(seconds);
      if (!failure) {
        char *end = nullptr;
        long n = std::strtol(seconds.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 86400)
          failure = Failure{arg + ": expects seconds from 1 to 86400, got '" + seconds + "'"};
        options.collectiveTimeout = static_cast<int>(n);
      }
    } else if (arg == "--time") {
      std::string count;
      failure = takeValue(count);
      if (!failure) {
        char *end = nullptr;
        long n = std::strtol(count.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 1000000)
          failure = Failure{arg + ": expects a count from 1 to 1000000, got '" + count + "'"};
        options.timedRuns = static_cast<int>(n);
      }
    } else if (arg == "--train") {
      std::string count;
      failure = takeValue(count);
      if (!failure) {
        char *end = nullptr;
        long long n = std::strtoll(count.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 1000000000)
          failure = Failure{arg + ": expects a step count from 1 to 1000000000, got '" + count +
                            "'"};
        options.trainSteps = n;
      }
    } else if (arg == "--features" || arg == "--labels") {
      failure = takeValue(arg == "--features" ? options.features : options.labels);
      options.trainFlags.push_back(arg);
    } else if (arg == "--lr") {
      std::string rate;
      failure = takeValue(rate);
      if (!failure) {
        char *end = nullptr;
        options.learningRate = std::strtof(rate.c_str(), &end);
        if (*end != '\0' || !std::isfinite(*options.learningRate))
          failure = Failure{arg + ": expects a finite number, got '" + rate + "'"};
        options.fit.lr = std::strtod(rate.c_str(), nullptr);  // the schedule computes in double
      }
      options.trainFlags.push_back(arg);
    } else if (arg == "--batch-order") {
      std::string order;
      failure = takeValue(order);
      if (!failure && order != "sequential")
        failure = Failure{arg + ": unknown order '" + order + "' (available: sequential)"};
      options.trainFlags.push_back(arg);
    } else if (arg == "--collective-stats") {
      if (hasInlineValue)
        failure = Failure{arg + ": takes no value"};
      options.collectiveStats = true;
    } else if (arg == "--print-arena") {
      if (hasInlineValue)
        failure = Failure{arg + ": takes no value"};
      options.printArena = true;
    } else if (arg == "--profile") {
      if (hasInlineValue)
        failure = Failure{arg + ": takes no value"};
      options.profile = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      failure = Failure{arg + ": unknown option" + suggestFlag(arg) + " (see nnrun --help)"};
    } else if (options.plan.empty()) {
      options.plan = arg;
    } else {
      failure = Failure{arg + ": unexpected argument (nnrun runs one plan)"};
    }
    if (failure)
      return failure;
  }
  if (help || version)
    return std::nullopt;
  if (options.plan.empty())
    return Failure{"no plan given", 2};
  if (!options.predict.empty() && options.output.empty())
    return Failure{options.predict + ": --predict needs -o OUTPUT.npy"};
  if (options.predict.empty() && !options.output.empty())
    return Failure{options.output + ": -o needs --predict INPUT.npy"};
  if (options.timedRuns > 0 && options.predict.empty())
    return Failure{"--time needs --predict INPUT.npy"};
  if (options.fit.enabled && options.trainSteps > 0)
    return Failure{"--fit and --train are separate modes; choose one"};
  if (!options.checkpoint.empty() && (options.fit.enabled || options.trainSteps > 0))
    return Failure{"--checkpoint: loads weights to predict or dump; --fit continues a run "
                   "with --checkpoint-dir DIR --resume"};
  if (!options.checkpoint.empty() && !options.loadDir.empty())
    return Failure{"--checkpoint and --load-parameters: give one source of parameters"};
  // --skip-nonfinite is --fit's, but --train skips non-finite updates the same way.
  auto &given = options.fit.given;
  if (options.trainSteps > 0 && !options.fit.enabled)
    given.erase(std::remove(given.begin(), given.end(), "--skip-nonfinite"), given.end());
  // --allow-nonfinite-inputs is --fit's too, but --train and --predict read features as well.
  if ((options.trainSteps > 0 || !options.predict.empty()) && !options.fit.enabled)
    given.erase(std::remove(given.begin(), given.end(), "--allow-nonfinite-inputs"),
                given.end());
  if (nnc::Status s = trainer::checkFitOptions(options.fit); !s.ok())
    return Failure{s.message()};
  for (const std::string &flag : options.trainFlags)
    if (options.trainSteps == 0 && !(flag == "--lr" && options.fit.enabled))
      return Failure{flag + ": needs --train STEPS" +
                     (flag == "--lr" ? std::string(" or --fit") : std::string())};
  if (options.trainSteps > 0 && (options.features.empty() || options.labels.empty()))
    return Failure{"--train needs --features X.npy and --labels Y.npy"};
  return std::nullopt;
}

/// A parameter name as a file name: '/' would make a directory, so it becomes '_'.
std::string fileNameOf(std::string name) {
  for (char &c : name)
    if (c == '/' || c == '\0')
      c = '_';
  return name == "." || name == ".." ? "_" + name : name;
}

/// Every parameter as DIR/<name>.npy, and the input normalization training applied (if any).
std::optional<Failure> dumpParameters(const Executor &executor, const std::string &dir,
                                      const std::optional<trainer::Normalization> &norm) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    return Failure{dir + ": cannot create directory: " + error.message()};
  std::vector<std::pair<std::string, HostTensor>> tensors;
  for (const nnc::TensorSlice &parameter : executor.plan().parameters()) {
    nnc::StatusOr<HostTensor> value = executor.read(parameter);
    if (!value.ok())
      return Failure{dir + ": parameter '" + parameter.name() + "': " + value.status().message()};
    tensors.emplace_back(parameter.name(), std::move(*value));
  }
  if (norm)
    for (auto &tensor : norm->tensors())
      tensors.push_back(std::move(tensor));
  for (const auto &[name, value] : tensors)
    if (nnc::Status s =
            writeNpy(std::filesystem::path(dir) / (fileNameOf(name) + ".npy"), value);
        !s.ok())
      return Failure{s.message()};
  return std::nullopt;
}

std::optional<Failure> loadParameters(Executor &executor, const std::string &dir) {
  for (const nnc::TensorSlice &parameter : executor.plan().parameters()) {
    std::string path = (std::filesystem::path(dir) / (fileNameOf(parameter.name()) + ".npy"));
    // Model weights must all be there; optimizer state may be absent (it then starts at zero).
    if (parameter.optimizer_state() && !std::filesystem::exists(path))
      continue;
    nnc::StatusOr<HostTensor> value = readNpy(path);
    if (!value.ok())
      return Failure{value.status().message()};
    if (nnc::Status s = checkType(*value, parameter.type()); !s.ok())
      return Failure{path + ": parameter '" + parameter.name() + "': " + s.message()};
    if (nnc::Status s = executor.write(parameter, *value); !s.ok())
      return Failure{path + ": " + s.message()};
  }
  return std::nullopt;
}

/// Runs "init", then --load-parameters or --checkpoint, whose input normalization (if it has
/// one) goes to `norm`; `where` names the plan (and stage) in errors.
std::optional<Failure> initialize(Executor &exec, const Options &options,
                                  const std::string &where,
                                  std::optional<trainer::Normalization> *norm = nullptr) {
  if (exec.function("init"))
    if (nnc::Status s = exec.run("init"); !s.ok())
      return Failure{where + ": " + s.message()};
  std::vector<std::pair<std::string, HostTensor>> normTensors;
  std::string normSource = options.loadDir;
  if (!options.loadDir.empty()) {
    if (std::optional<Failure> failure = loadParameters(exec, options.loadDir))
      return failure;
    for (const char *name : {trainer::kMeanTensor, trainer::kStddevTensor}) {
      std::string path = std::filesystem::path(options.loadDir) / (fileNameOf(name) + ".npy");
      if (!std::filesystem::exists(path))
        continue;
      nnc::StatusOr<HostTensor> tensor = readNpy(path);
      if (!tensor.ok())
        return Failure{tensor.status().message()};
      normTensors.emplace_back(name, std::move(*tensor));
    }
  }
  if (!options.checkpoint.empty()) {
    normSource = options.checkpoint;
    nnc::StatusOr<trainer::Checkpoint> checkpoint = trainer::readCheckpoint(options.checkpoint);
    if (!checkpoint.ok())
      return Failure{checkpoint.status().message()};
    if (nnc::Status s = trainer::checkCheckpointFits(*checkpoint, exec.plan(), options.checkpoint);
        !s.ok())
      return Failure{s.message()};
    if (nnc::Status s = trainer::restoreParameters(exec, *checkpoint); !s.ok())
      return Failure{options.checkpoint + ": " + s.message()};
    normTensors = std::move(checkpoint->tensors);
  }
  nnc::StatusOr<std::optional<trainer::Normalization>> found =
      trainer::Normalization::fromTensors(normTensors, normSource);
  if (!found.ok())
    return Failure{found.status().message()};
  if (norm)
    *norm = std::move(*found);
  return std::nullopt;
}

/// --train's rate: --lr, else the rate the model was given (as --fit takes it), else 0.01.
float trainingRate(const Options &options, const nnc::Plan &plan) {
  double specified = plan.training().optimizer().learning_rate();
  return options.learningRate.value_or(specified > 0 ? float(specified) : 0.01f);
}

/// --features and --labels, read whole.
std::optional<Failure> readTrainData(const Options &options, TrainData &data) {
  data.featuresPath = options.features;
  data.labelsPath = options.labels;
  for (auto [path, into] : {std::pair{&options.features, &data.features},
                            std::pair{&options.labels, &data.labels}}) {
    nnc::StatusOr<HostTensor> read = readNpy(*path);
    if (!read.ok())
      return Failure{read.status().message()};
    if (into == &data.features && !options.fit.data.allowNonfinite)
      if (nnc::Status s = trainer::checkFinite(*read, *path, "feature"); !s.ok())
        return Failure{s.message()};
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

/// A pipelined plan: rank s of `mpirun -np S` trains stage s (--train), then writes its own
/// stage's parameters with --dump-parameters.
std::optional<Failure> runPipelined(const Options &options, std::ostream &out,
                                    Communicator *group, const nnc::Plan &plan, Device &device) {
  const std::string &planPath = options.plan;
  int stages = plan.pipeline().stages_size();
  if (options.fit.enabled || !options.predict.empty() || !options.exportOnnx.empty())
    return Failure{planPath + ": a pipelined plan trains with --train (--fit, --predict and "
                              "--export-onnx run on plans of one stage)"};
  if (!group || group->size() != stages)
    return Failure{planPath + ": the plan has " + std::to_string(stages) +
                   " pipeline stages: run it with mpirun -np " + std::to_string(stages)};
  int stage = group->rank();
  TrainData data;
  std::optional<PipelineBinding> binding;
  if (options.trainSteps > 0) {
    if (std::optional<Failure> failure = readTrainData(options, data))
      return failure;
    nnc::StatusOr<PipelineBinding> bound =
        bindPipelineStage(plan.pipeline(), stage, planPath, data);
    if (!bound.ok())
      return Failure{bound.status().message()};
    binding = std::move(*bound);
  }
  std::string where = planPath + ": pipeline stage " + std::to_string(stage);
  nnc::StatusOr<std::unique_ptr<Executor>> executor =
      Executor::prepare(plan.pipeline().stages(stage).plan(), device);
  if (!executor.ok())
    return Failure{where + ": " + executor.status().message()};
  Executor &exec = **executor;
  if (options.printArena)
    out << "arena: " << exec.arenaBytes() << " bytes (pipeline stage " << stage << ")\n";
  if (std::optional<Failure> failure = initialize(exec, options, where))
    return failure;
  if (binding) {
    TrainOptions trainOptions;
    trainOptions.steps = options.trainSteps;
    trainOptions.learningRate = trainingRate(options, plan);
    trainOptions.seed = plan.seed();
    trainOptions.group = group;
    auto print = [&out](int64_t step, float loss) { printStep(out, step, loss); };
    if (nnc::Status s = trainPipeline(exec, *binding, data, trainOptions, print); !s.ok())
      return Failure{planPath + ": " + s.message()};
  }
  // Each stage holds its own parameters: every rank writes its own.
  if (!options.dumpDir.empty())
    if (std::optional<Failure> failure = dumpParameters(exec, options.dumpDir, std::nullopt))
      return failure;
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
std::optional<Failure> checkOutputs(const Options &options) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!options.dumpDir.empty()) {
    if (fs::exists(options.dumpDir, error) && !fs::is_directory(options.dumpDir, error))
      return Failure{options.dumpDir + ": --dump-parameters needs a directory, not a file"};
    fs::create_directories(options.dumpDir, error);
    if (error)
      return Failure{options.dumpDir + ": cannot create directory: " + error.message()};
  }
  if (!options.output.empty()) {
    fs::path parent = fs::path(options.output).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, error))
      return Failure{options.output + ": cannot write: no directory " + parent.string()};
    if (fs::is_directory(options.output, error))
      return Failure{options.output + ": cannot write: it is a directory"};
  }
  return std::nullopt;
}

std::optional<Failure> run(const Options &options, std::ostream &out, Communicator *group) {
  const std::string &planPath = options.plan;
  if (std::optional<Failure> failure = checkOutputs(options))
    return failure;
  nnc::StatusOr<nnc::Plan> plan = loadPlan(planPath);
  if (!plan.ok())
    return Failure{plan.status().message()};
  nnc::StatusOr<std::unique_ptr<Device>> device = createDevice(options.device);
  if (!device.ok())
    return Failure{"--device: " + device.status().message()};
  if (plan->pipeline().stages_size() > 0)
    return runPipelined(options, out, group, *plan, **device);

  // Check the input before any work: a wrong .npy should not cost an init.
  const nnc::Function *predict = nullptr;
  HostTensor input;
  if (!options.predict.empty()) {
    nnc::StatusOr<const nnc::Function *> found = findPredict(*plan, planPath);
    if (!found.ok())
      return Failure{found.status().message()};
    predict = *found;
    nnc::StatusOr<HostTensor> read = readNpy(options.predict);
    if (!read.ok())
      return Failure{read.status().message()};
    if (!options.fit.data.allowNonfinite && !read->shape.empty() && read->shape[0] > 0)
      if (nnc::Status s = trainer::checkFinite(*read, options.predict, "feature"); !s.ok())
        return Failure{s.message()};
    // Any number of rows: predict runs batch by batch (the last one zero-padded).
    if (nnc::Status s = checkPredictInput(*predict, *read); !s.ok())
      return Failure{options.predict + ": " + s.message()};
    input = std::move(*read);
  }

  // Likewise the training data, matched to train_step before anything runs.
  TrainData data;
  std::optional<TrainBinding> binding;
  if (options.trainSteps > 0) {
    if (std::optional<Failure> failure = readTrainData(options, data))
      return failure;
    nnc::StatusOr<TrainBinding> bound = bindTrainStep(*plan, planPath, data);
    if (!bound.ok())
      return Failure{bound.status().message()};
    binding = std::move(*bound);
  }

  // And --fit's data, schedule and checkpoint.
  std::optional<trainer::FitJob> fitJob;
  if (options.fit.enabled) {
    nnc::StatusOr<trainer::FitJob> job =
        trainer::prepareFit(*plan, planPath, options.fit, out, group);
    if (!job.ok())
      return Failure{job.status().message()};
    fitJob = std::move(*job);
  }

  nnc::StatusOr<std::unique_ptr<Executor>> executor = Executor::prepare(std::move(*plan), **device);
  if (!executor.ok())
    return Failure{planPath + ": " + executor.status().message()};
  Executor &exec = **executor;
  bool training = binding || fitJob;
  if (training && group && group->size() > 1 && !exec.hasCollectives())
    return Failure{planPath + ": the plan was compiled without data parallelism, so " +
                   std::to_string(group->size()) +
                   " ranks would train separate models (nnc compile --data-parallel N)"};
  exec.setCommunicator(group);
  if (options.profile)
    exec.enableProfiling();
  if (options.printArena)
    out << "arena: " << exec.arenaBytes() << " bytes\n";
  std::optional<trainer::Normalization> norm;  // of the inputs, as training applied it
  if (std::optional<Failure> failure = initialize(exec, options, planPath, &norm))
    return failure;
  // A plan that loads and initializes (checks worth having) but is asked for nothing more.
  if (!training && options.predict.empty() && options.dumpDir.empty() && !options.printArena &&
      options.exportOnnx.empty())
    return Failure{planPath + ": loads, but nothing to do (give --fit, --train, --predict, "
                              "--dump-parameters or --print-arena)",
                   2};
  if (binding) {
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
    if (nnc::Status s = train(exec, *binding, data, trainOptions, print); !s.ok())
      return Failure{s.message().rfind("interrupted", 0) == 0 ? s.message()
                                                              : planPath + ": " + s.message()};
  }
  if (fitJob) {
    if (nnc::Status s = trainer::runFit(exec, *fitJob, out); !s.ok())
      return Failure{s.message()};
    norm = fitJob->data.normalization;
  }
  // Every rank holds the same parameters and predictions; rank 0 writes them.
  if (group && group->rank() != 0)
    return std::nullopt;
  if (!options.dumpDir.empty())
    if (std::optional<Failure> failure = dumpParameters(exec, options.dumpDir, norm))
      return failure;
  if (!options.exportOnnx.empty())
    if (nnc::Status s = nnc::exporter::exportPlanToOnnx(
            exec, norm ? norm->tensors() : nnc::exporter::NamedTensors(), planPath,
            options.exportOnnx);
        !s.ok())
      return Failure{s.message()};
  if (!predict) {
    if (options.profile)
      printProfile(exec, out);
    return std::nullopt;
  }

  int64_t rows = input.shape[0];
  nnc::StatusOr<HostTensor> result = predictRows(exec, *predict, std::move(input),
                                                 norm ? &*norm : nullptr, options.predict,
                                                 planPath);
  if (!result.ok())
    return Failure{result.status().message()};
  for (int i = 0; i < options.timedRuns; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (nnc::Status s = exec.run("predict"); !s.ok())
      return Failure{planPath + ": " + s.message()};
    auto elapsed = std::chrono::steady_clock::now() - start;
    out << "predict_us "
        << std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() << "\n";
  }
  warnNonFiniteRows(*result, rows, out);
  if (nnc::Status s = writeNpy(options.output, *result); !s.ok())
    return Failure{s.message()};
  if (options.profile)
    printProfile(exec, out);
  return std::nullopt;
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
  std::optional<Failure> failure;
  std::unique_ptr<Communicator> group;
  try {
    Options options;
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
        failure = Failure{"mpi: " + created.status().message()};
      else
        group = std::move(*created);
    }
    if (!failure && !help && options.collectiveStats && !group)
      failure = Failure{"--collective-stats: measures data parallelism, under mpirun"};
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
        failure = Failure{s.message()};
    if (!failure && options.collectiveStats) {
      nnc::StatusOr<std::string> line = summarizeCollectiveStats(*group);
      if (!line.ok())
        failure = Failure{line.status().message()};
      else if (group->rank() == 0)
        out << *line << "\n";
    }
  } catch (const std::bad_alloc &) {
    failure = Failure{"out of memory"};
  } catch (const std::exception &e) {
    failure = Failure{std::string("internal error: ") + e.what()};
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
  std::string rank = group && group->size() > 1 ? "rank " + std::to_string(group->rank()) +
                                                       " of " + std::to_string(group->size())
                                                 : "";
  if (!rank.empty() && failure->message.find(rank + ":") == std::string::npos)
    failure->message = rank + ": " + failure->message;
  err << "nnrun: error: " << oneLine(failure->message) << "\n";
  if (failure->exitCode == 2)  // the synopsis: what nnrun can be asked to do
    err << std::string(kUsage, std::strstr(kUsage, "\n\n") + 1) << "see nnrun --help\n";
  return failure->exitCode;
}

} // namespace nnrt
