// The --fit flags: their usage text, and parseFitFlag, which hands each flag to the parser of its
// concern (switches, data, schedule, checkpoints, augmentation, samples, monitoring).
#include "runtime/trainer/FitCommand.h"

#include <cmath>
#include <cstdlib>

namespace nnrt::trainer {

using nnc::Status;

const char *const kFitUsage = R"(training (--fit; unset values come from the plan's TrainingSpec):
  --fit                   train on --data for the spec's epochs, evaluating every epoch, then
                          print the test loss and accuracy (overall and per class)
  --data SOURCE           an IDX directory (train-*-idx?-ubyte[.gz]; its t10k-* files are the
                          test set), X.npy,Y.npy, a .csv file (header row) or a .txt corpus
                          (char-level LM: byte ids, windows of the model's context)
  --test-data SOURCE      the test set, same forms
  --label-column NAME     the CSV column holding the label (default "label")
  --val-fraction F        hold out F of the training examples (seeded) for validation
                          (text: the tail; default 0.1 there, else 0)
  --normalize MODE        auto (IDX: mean/std of the training pixels; CSV: each column
                          standardized on the training split), none, or MEAN,STD
  --allow-nonfinite-inputs  accept NaN and infinite features (refused by default, naming the
                          file, row and column of the first)
  --epochs N              epochs to train
  --lr RATE               the peak learning rate (the optimizer's)
  --lr-schedule KIND      constant, warmup-cosine, step or plateau
  --warmup-steps N        linear warm-up from lr/100 to lr over N steps (any schedule)
  --warmup-epochs E       ... over E epochs of this data (fractions allowed)
  --min-lr RATE           cosine's final rate, plateau's floor
  --lr-step-size N        step: multiply by gamma every N epochs
  --lr-gamma G            step and plateau: the factor (default 0.1)
  --lr-patience N         plateau: epochs without improvement tolerated before a reduction
  --lr-reference-batch B  linear scaling rule: lr * B' / B, B' the rows of one update
                          (batch x ranks x accumulation steps)
  --seed N                data order, validation split and nnc.rng_key (default: the plan's)
  --class-names A,B,...   the classes' names, in label order, for the per-class lines and
                          the report
  --early-stopping N      stop after N epochs without a better validation loss; the best
                          weights become the final model
  --checkpoint-dir DIR    write DIR/last.ckpt (and DIR/best.ckpt with early stopping)
  --checkpoint-every N    ... every N steps (always at the end)
  --resume                continue from DIR/last.ckpt when it exists (bit-identically)
  --log-steps             print "step S epoch E lr R loss L" for every step
  --sample-every N        language models: every N steps, continue a prompt from the data
                          with predict and show the text (progress, JSON lines, report)
  --sample-length L       ... tokens generated per sample (default 64)
  --sample-temperature T  ... 0 (default): the most likely token; T > 0: sampled from
                          softmax(logits / T), reproducibly for a --seed
  --skip-nonfinite        go on after a step whose loss or gradients are NaN or infinite (the
                          plan keeps every parameter and names the node where the value
                          started) instead of stopping
augmentation of training batches (seeded by --seed, the step and the row):
  --augment-flip          images: random horizontal flip (p 0.5)
  --augment-crop P        images: pad P pixels with zeros, crop back at a random offset
  --augment-rotate DEG    images: random rotation within +-DEG degrees
  --augment-jitter A      images: brightness and contrast jitter of +-A
  --feature-noise SIGMA   tabular rows: additive Gaussian noise
  --mask-tokens P         token ids: replace each by 0 with probability P
  --mixup ALPHA           mix each row with a random partner, lambda ~ Beta(ALPHA, ALPHA), and
                          its label likewise (needs a model whose labels are class
                          probabilities, f32 (batch, classes))
  --lr-find PREFIX        instead of training: the learning-rate range test over up to one
                          epoch (1e-7 to 10, stopping when the loss explodes); writes PREFIX.csv
                          and PREFIX.svg, prints a suggested rate, leaves the weights untouched
monitoring (warnings for gradient-norm spikes, overfitting and underfitting are always printed):
  --progress MODE         auto (a progress bar on a terminal), bar, plain (a line every 10% of
                          an epoch) or none
  --metrics-jsonl FILE    one JSON object per step, evaluation, epoch and anomaly
  --tensorboard DIR       TensorBoard event files (scalars) under DIR
  --report FILE.html      a self-contained HTML report with plots, rewritten at every evaluation
  --grad-spike-z Z        a gradient norm Z standard deviations above the last 50 is a spike
                          (default 6)
)";

namespace {

nnc::StatusOr<int64_t> parseCount(const std::string &flag, const std::string &text,
                                  int64_t minimum) {
  char *end = nullptr;
  long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || n < minimum || n > (1ll << 40))
    return Status::error(flag + ": expects an integer >= " + std::to_string(minimum) +
                         ", got '" + text + "'");
  return int64_t(n);
}

nnc::StatusOr<double> parseNumber(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  double x = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(x) || x < 0)
    return Status::error(flag + ": expects a non-negative number, got '" + text + "'");
  return x;
}

/// One flag and its value, read on demand (a switch has none) and checked as its parser needs.
class FlagValue {
public:
  FlagValue(const std::string &flag, const std::function<nnc::StatusOr<std::string>()> &value)
      : flag(flag), value_(value) {}

  Status text(std::string &into) const {
    nnc::StatusOr<std::string> v = value_();
    if (!v.ok())
      return v.status();
    into = *v;
    return Status();
  }
  /// An integer >= minimum.
  template <typename T> Status count(T &into, int64_t minimum) const {
    std::string t;
    if (Status s = text(t); !s.ok())
      return s;
    nnc::StatusOr<int64_t> n = parseCount(flag, t, minimum);
    if (!n.ok())
      return n.status();
    into = *n;  // an int64_t, a uint64_t (the seed), or an optional of either
    return Status();
  }
  /// A finite number >= 0.
  template <typename T> Status number(T &into) const {
    std::string t;
    if (Status s = text(t); !s.ok())
      return s;
    nnc::StatusOr<double> x = parseNumber(flag, t);
    if (!x.ok())
      return x.status();
    into = *x;
    return Status();
  }

  const std::string &flag;

private:
  const std::function<nnc::StatusOr<std::string>()> &value_;
};

/// A parser's answer: nothing when the flag is not its concern.
using Parsed = std::optional<Status>;

Parsed parseSwitch(const std::string &flag, FitOptions &o) {
  bool *on = flag == "--fit"                       ? &o.enabled
             : flag == "--resume"                  ? &o.resume
             : flag == "--log-steps"               ? &o.logSteps
             : flag == "--skip-nonfinite"          ? &o.skipNonFinite
             : flag == "--augment-flip"            ? &o.augment.image.flip
             : flag == "--allow-nonfinite-inputs"  ? &o.data.allowNonfinite
                                                   : nullptr;
  if (!on)
    return std::nullopt;
  *on = true;
  return Status();
}

/// "--class-names A,B,C": no name may be empty.
Status parseClassNames(const FlagValue &v, std::vector<std::string> &classNames) {
  std::string names;
  Status s = v.text(names);
  classNames.clear();
  for (size_t at = 0; s.ok() && at <= names.size();) {
    size_t comma = std::min(names.find(',', at), names.size());
    classNames.push_back(names.substr(at, comma - at));
    if (classNames.back().empty())
      s = Status::error("--class-names: name " + std::to_string(classNames.size()) +
                        " is empty in '" + names + "'");
    at = comma + 1;
  }
  return s;
}

Parsed parseDataFlag(const FlagValue &v, FitOptions &o) {
  const std::string &flag = v.flag;
  if (flag == "--data")
    return v.text(o.data.source);
  if (flag == "--test-data")
    return v.text(o.data.testSource);
  if (flag == "--label-column")
    return v.text(o.data.labelColumn);
  if (flag == "--normalize")
    return v.text(o.data.normalize);
  if (flag == "--val-fraction")
    return v.number(o.data.valFraction);
  if (flag == "--class-names")
    return parseClassNames(v, o.classNames);
  return std::nullopt;
}

Parsed parseScheduleFlag(const FlagValue &v, FitOptions &o) {
  const std::string &flag = v.flag;
  if (flag == "--epochs")
    return v.count(o.epochs, 1);
  if (flag == "--lr-schedule") {
    std::string t;
    if (Status s = v.text(t); !s.ok())
      return s;
    nnc::StatusOr<nnc::LRSchedule::Kind> kind = parseScheduleKind(t);
    if (!kind.ok())
      return kind.status();
    o.schedule = *kind;
    return Status();
  }
  if (flag == "--warmup-steps")
    return v.count(o.warmupSteps, 0);
  if (flag == "--warmup-epochs")
    return v.number(o.warmupEpochs);
  if (flag == "--min-lr")
    return v.number(o.minLr);
  if (flag == "--lr-step-size")
    return v.count(o.stepSize, 1);
  if (flag == "--lr-gamma")
    return v.number(o.gamma);
  if (flag == "--lr-patience")
    return v.count(o.patience, 0);
  if (flag == "--lr-reference-batch")
    return v.count(o.referenceBatch, 1);
  if (flag == "--seed")
    return v.count(o.seed, 0);
  if (flag == "--lr-find")
    return v.text(o.lrFind);
  return std::nullopt;
}

Parsed parseCheckpointFlag(const FlagValue &v, FitOptions &o) {
  if (v.flag == "--early-stopping")
    return v.count(o.earlyStopping, 0);
  if (v.flag == "--checkpoint-dir")
    return v.text(o.checkpointDir);
  if (v.flag == "--checkpoint-every")
    return v.count(o.checkpointEvery, 1);
  return std::nullopt;
}

/// The augmentation flags: a crop size, or a non-negative strength.
Parsed parseAugmentFlag(const FlagValue &v, FitOptions &o) {
  const std::string &flag = v.flag;
  if (flag == "--augment-crop")
    return v.count(o.augmentCrop, 1);
  if (flag != "--augment-rotate" && flag != "--augment-jitter" && flag != "--feature-noise" &&
      flag != "--mask-tokens" && flag != "--mixup")
    return std::nullopt;
  double x = 0;
  if (Status s = v.number(x); !s.ok())
    return s;
  if (!(x >= 0))
    return Status::error(flag + ": expects a number >= 0");
  if (flag == "--augment-rotate")
    o.augment.image.rotationDegrees = float(x);
  else if (flag == "--augment-jitter")
    o.augment.image.brightness = o.augment.image.contrast = float(x);
  else if (flag == "--feature-noise")
    o.augment.tabular.noiseStddev = float(x);
  else if (flag == "--mixup")
    o.augment.tabular.mixupAlpha = float(x);
  else if (x > 1)
    return Status::error("--mask-tokens: expects a probability in [0, 1]");
  else
    o.augment.text.maskProbability = float(x);
  return Status();
}

Parsed parseSampleFlag(const FlagValue &v, FitOptions &o) {
  if (v.flag == "--sample-every")
    return v.count(o.sample.every, 1);
  if (v.flag == "--sample-length")
    return v.count(o.sample.length, 1);
  if (v.flag != "--sample-temperature")
    return std::nullopt;
  double t = 0;
  if (Status s = v.number(t); !s.ok())
    return s;
  if (!(t >= 0))
    return Status::error("--sample-temperature: expects a temperature >= 0 (0: greedy), got " +
                         std::to_string(t));
  o.sample.temperature = t;
  return Status();
}

Parsed parseMonitorFlag(const FlagValue &v, FitOptions &o) {
  const std::string &flag = v.flag;
  monitor::MonitorOptions &m = o.monitor;
  if (flag == "--progress") {
    if (Status s = v.text(m.progress); !s.ok())
      return s;
    if (m.progress != "auto" && m.progress != "bar" && m.progress != "plain" &&
        m.progress != "none")
      return Status::error("--progress: expects auto, bar, plain or none, got '" + m.progress +
                           "'");
    return Status();
  }
  if (flag == "--metrics-jsonl")
    return v.text(m.metricsJsonl);
  if (flag == "--tensorboard")
    return v.text(m.tensorboardDir);
  if (flag == "--report")
    return v.text(m.reportPath);
  if (flag == "--grad-spike-z")
    return v.number(m.anomaly.spikeZ);
  return std::nullopt;
}

} // namespace

nnc::StatusOr<bool> parseFitFlag(const std::string &flag,
                                 const std::function<nnc::StatusOr<std::string>()> &value,
                                 FitOptions &o) {
  FlagValue v(flag, value);
  Parsed parsed = parseSwitch(flag, o);
  for (auto parser : {parseDataFlag, parseScheduleFlag, parseCheckpointFlag, parseAugmentFlag,
                      parseSampleFlag, parseMonitorFlag})
    if (!parsed)
      parsed = parser(v, o);
  if (!parsed)
    return false;
  if (!parsed->ok())
    return *parsed;
  if (flag != "--fit")
    o.given.push_back(flag);
  return true;
}

Status checkFitOptions(const FitOptions &o) {
  if (!o.enabled && !o.given.empty())
    return Status::error(o.given[0] + ": needs --fit");
  if (!o.enabled)
    return Status();
  if (o.data.source.empty())
    return Status::error("--fit needs --data SOURCE (see nnrun --help)");
  if (o.resume && o.checkpointDir.empty())
    return Status::error("--resume needs --checkpoint-dir DIR");
  if (o.checkpointEvery > 0 && o.checkpointDir.empty())
    return Status::error("--checkpoint-every needs --checkpoint-dir DIR");
  for (const std::string &flag : o.given)
    if ((flag == "--sample-length" || flag == "--sample-temperature") && o.sample.every == 0)
      return Status::error(flag + " needs --sample-every N");
  return Status();
}

} // namespace nnrt::trainer
