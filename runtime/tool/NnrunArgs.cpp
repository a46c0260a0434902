// nnrun's command line (see NnrunArgs.h): each flag goes to the first parser that knows it —
// --fit's (trainer::parseFitFlag), then nnrun's own, by kind — and the combinations are checked
// once every flag is read.
#include "runtime/tool/NnrunArgs.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace nnrt {

const char *const kUsage =
    R"(usage: nnrun MODEL.plan [--train STEPS --features X.npy --labels Y.npy]
                         [--fit --data SOURCE [training options]]
                         [--predict INPUT.npy -o OUTPUT.npy] [options]

Runs a plan compiled by `nnc compile`: its "init" function (parameters), then, with --train, its
"train_step" function STEPS times, then, with --predict, its "predict" function on its inputs,
writing its outputs.

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
  --predict FILE[,FILE]   .npy inputs of the predict function, one per input in its order:
                          one batch, or any number of rows (the same for each), batch by batch
  -o, --output OUT[,OUT]  where to write predict's outputs (.npy), one per output in its
                          order
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
  --adaptive-threads      before each step, choose all threads or one, whichever the measured
                          steps say is faster (on a machine shared with other jobs one thread
                          can be twice as fast as two); the choice did not change results in
                          any plan checked
  --profile-json FILE     --profile, and write every command's time to FILE (JSON lines),
                          each library call (GEMM, convolution) with its FLOPs and its time
                          run alone, four ways: back to back, after evicting the caches,
                          after parking the threads, and on one thread
  --version               print nnrun's version
  -h, --help              show this help

exit status: 0 done, 1 an error (one line on stderr naming the file or flag), 2 a command line
with nothing to do, 130 / 143 stopped by SIGINT / SIGTERM (see --checkpoint-dir and --resume)

)";

namespace {

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

/// One command-line argument: "--flag", "--flag=value" or "--flag value" (the value taken from
/// the next argument on demand), or a positional one.
class Arg {
public:
  Arg(const std::vector<std::string> &args, size_t &i) : args_(args), i_(i), name(args[i]) {
    if (name.rfind("--", 0) == 0 && name.find('=') != std::string::npos) {
      inlineValue_ = name.substr(name.find('=') + 1);
      name = name.substr(0, name.find('='));
    }
  }

  std::optional<NnrunFailure> value(std::string &into) const {
    if (inlineValue_) {
      into = *inlineValue_;
    } else if (i_ + 1 < args_.size()) {
      into = args_[++i_];
    } else {
      return NnrunFailure{name + ": missing value"};
    }
    if (into.empty())
      return NnrunFailure{name + ": empty value"};
    return std::nullopt;
  }
  /// A switch: "--profile=1" is refused.
  std::optional<NnrunFailure> noValue() const {
    if (inlineValue_)
      return NnrunFailure{name + ": takes no value"};
    return std::nullopt;
  }

private:
  const std::vector<std::string> &args_;
  size_t &i_;
  std::optional<std::string> inlineValue_;

public:
  std::string name;
};

/// An integer in [minimum, maximum] for `arg`; `what` says what it counts in the error.
std::optional<NnrunFailure> integerValue(const Arg &arg, long long minimum, long long maximum,
                                         const std::string &what, long long &into) {
  std::string text;
  if (std::optional<NnrunFailure> failure = arg.value(text))
    return failure;
  char *end = nullptr;
  into = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || into < minimum || into > maximum)
    return NnrunFailure{arg.name + ": expects " + what + " from " + std::to_string(minimum) +
                        " to " + std::to_string(maximum) + ", got '" + text + "'"};
  return std::nullopt;
}

/// --train and the flags that only make sense with it (remembered in options.trainFlags).
/// False when `arg` is none of them.
bool parseTrainFlag(const Arg &arg, NnrunOptions &options, std::optional<NnrunFailure> &failure) {
  const std::string &flag = arg.name;
  if (flag == "--train") {
    long long steps = 0;
    failure = integerValue(arg, 1, 1000000000, "a step count", steps);
    options.trainSteps = steps;
    return true;
  }
  if (flag != "--features" && flag != "--labels" && flag != "--lr" && flag != "--batch-order")
    return false;
  options.trainFlags.push_back(flag);
  if (flag == "--features" || flag == "--labels") {
    failure = arg.value(flag == "--features" ? options.features : options.labels);
    return true;
  }
  std::string text;
  if ((failure = arg.value(text)))
    return true;
  if (flag == "--batch-order") {
    if (text != "sequential")
      failure = NnrunFailure{flag + ": unknown order '" + text + "' (available: sequential)"};
    return true;
  }
  char *end = nullptr;
  options.learningRate = std::strtof(text.c_str(), &end);
  options.fit.lr = std::strtod(text.c_str(), nullptr);  // the schedule computes in double
  if (*end != '\0' || !std::isfinite(*options.learningRate))
    failure = NnrunFailure{flag + ": expects a finite number, got '" + text + "'"};
  return true;
}

/// nnrun's own flags that are not --train's: files, the device, counts and switches. False
/// when `arg` is none of them.
bool parseToolFlag(const Arg &arg, NnrunOptions &options, std::optional<NnrunFailure> &failure) {
  const std::string &flag = arg.name;
  for (auto [name, into] : {std::pair{"--predict", &options.predict},
                            std::pair{"-o", &options.output}, std::pair{"--output", &options.output},
                            std::pair{"--dump-parameters", &options.dumpDir},
                            std::pair{"--load-parameters", &options.loadDir},
                            std::pair{"--checkpoint", &options.checkpoint},
                            std::pair{"--export-onnx", &options.exportOnnx},
                            std::pair{"--profile-json", &options.profileJson},
                            std::pair{"--device", &options.device}})
    if (flag == name) {
      failure = arg.value(*into);
      return true;
    }
  for (auto [name, on] : {std::pair{"--collective-stats", &options.collectiveStats},
                          std::pair{"--print-arena", &options.printArena},
                          std::pair{"--profile", &options.profile},
                          std::pair{"--adaptive-threads", &options.adaptiveThreads}})
    if (flag == name) {
      *on = true;
      failure = arg.noValue();
      return true;
    }
  long long n = 0;
  if (flag == "--collective-timeout") {
    failure = integerValue(arg, 1, 86400, "seconds", n);
    options.collectiveTimeout = static_cast<int>(n);
  } else if (flag == "--time") {
    failure = integerValue(arg, 1, 1000000, "a count", n);
    options.timedRuns = static_cast<int>(n);
  } else {
    return false;
  }
  return true;
}

/// One argument, by the first parser that knows it.
std::optional<NnrunFailure> parseArg(const Arg &arg, NnrunOptions &options, bool &help,
                                     bool &version) {
  const std::string &flag = arg.name;
  auto fitValue = [&]() -> nnc::StatusOr<std::string> {
    std::string into;
    if (std::optional<NnrunFailure> missing = arg.value(into))
      return nnc::Status::error(missing->message);
    return into;
  };
  nnc::StatusOr<bool> fitFlag = trainer::parseFitFlag(flag, fitValue, options.fit);
  if (!fitFlag.ok())
    return NnrunFailure{fitFlag.status().message()};
  if (*fitFlag)
    return std::nullopt;
  if (flag == "-h" || flag == "--help" || flag == "--version") {
    (flag == "--version" ? version : help) = true;
    return std::nullopt;
  }
  std::optional<NnrunFailure> failure;
  if (parseTrainFlag(arg, options, failure) || parseToolFlag(arg, options, failure))
    return failure;
  if (flag.size() > 1 && flag[0] == '-')
    return NnrunFailure{flag + ": unknown option" + suggestFlag(flag) + " (see nnrun --help)"};
  if (!options.plan.empty())
    return NnrunFailure{flag + ": unexpected argument (nnrun runs one plan)"};
  options.plan = flag;
  return std::nullopt;
}

/// The flags' combinations, once all are read.
std::optional<NnrunFailure> checkArgs(NnrunOptions &options) {
  if (options.plan.empty())
    return NnrunFailure{"no plan given", 2};
  options.profile |= !options.profileJson.empty();  // issue 23
  if (!options.predict.empty() && options.output.empty())
    return NnrunFailure{options.predict + ": --predict needs -o OUTPUT.npy"};
  if (options.predict.empty() && !options.output.empty())
    return NnrunFailure{options.output + ": -o needs --predict INPUT.npy"};
  if (options.timedRuns > 0 && options.predict.empty())
    return NnrunFailure{"--time needs --predict INPUT.npy"};
  if (options.fit.enabled && options.trainSteps > 0)
    return NnrunFailure{"--fit and --train are separate modes; choose one"};
  if (!options.checkpoint.empty() && (options.fit.enabled || options.trainSteps > 0))
    return NnrunFailure{"--checkpoint: loads weights to predict or dump; --fit continues a run "
                        "with --checkpoint-dir DIR --resume"};
  if (!options.checkpoint.empty() && !options.loadDir.empty())
    return NnrunFailure{"--checkpoint and --load-parameters: give one source of parameters"};
  // --skip-nonfinite is --fit's, but --train skips non-finite updates the same way.
  auto &given = options.fit.given;
  if (options.trainSteps > 0 && !options.fit.enabled)
    given.erase(std::remove(given.begin(), given.end(), "--skip-nonfinite"), given.end());
  // --allow-nonfinite-inputs is --fit's too, but --train and --predict read features as well.
  if ((options.trainSteps > 0 || !options.predict.empty()) && !options.fit.enabled)
    given.erase(std::remove(given.begin(), given.end(), "--allow-nonfinite-inputs"),
                given.end());
  if (nnc::Status s = trainer::checkFitOptions(options.fit); !s.ok())
    return NnrunFailure{s.message()};
  for (const std::string &flag : options.trainFlags)
    if (options.trainSteps == 0 && !(flag == "--lr" && options.fit.enabled))
      return NnrunFailure{flag + ": needs --train STEPS" +
                          (flag == "--lr" ? std::string(" or --fit") : std::string())};
  if (options.trainSteps > 0 && (options.features.empty() || options.labels.empty()))
    return NnrunFailure{"--train needs --features X.npy and --labels Y.npy"};
  return std::nullopt;
}

} // namespace

std::optional<NnrunFailure> parseArgs(const std::vector<std::string> &args,
                                      NnrunOptions &options, bool &help, bool &version) {
  for (size_t i = 0; i < args.size(); ++i)
    if (std::optional<NnrunFailure> failure = parseArg(Arg(args, i), options, help, version))
      return failure;
  if (help || version)
    return std::nullopt;
  return checkArgs(options);
}

} // namespace nnrt
