// JSON-lines sink: a small field writer, then one function per event kind.
#include "runtime/monitor/JsonLines.h"

#include "runtime/FileIO.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace nnrt::monitor {

using nnc::Status;

namespace {

/// %.9g (enough for a float), through to_chars: a step's line is a dozen numbers, every step.
std::string number(double x) {
  if (!std::isfinite(x))
    return "null";
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof text, x, std::chars_format::general, 9);
  return std::string(text, error == std::errc() ? end : text);
}

/// Seconds since 1970 to the millisecond (%.9g would round them to tens of seconds).
std::string wall(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds);
  return text;
}

std::string quoted(const std::string &text) {
  std::string q = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      q += '\\', q += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      q += escape;
    } else
      q += c;
  }
  return q + "\"";
}

/// Builds {"k": v, ...} in insertion order.
class Object {
public:
  explicit Object(const char *event = nullptr) {
    if (event)
      add("event", quoted(event));
  }
  Object &add(const char *key, const std::string &json) {
    if (text_.size() > 1)
      text_ += ',';
    text_ += '"'; // keys are plain identifiers: nothing to escape
    text_ += key;
    text_ += "\":";
    text_ += json;
    return *this;
  }
  Object &num(const char *key, double x) { return add(key, number(x)); }
  Object &num(const char *key, const std::optional<double> &x) {
    return x ? num(key, *x) : *this;
  }
  Object &integer(const char *key, int64_t x) { return add(key, std::to_string(x)); }
  std::string str() const { return text_ + "}"; }

private:
  std::string text_ = "{";
};

template <typename T, typename F> std::string array(const std::vector<T> &xs, F item) {
  std::string a = "[";
  for (size_t i = 0; i < xs.size(); ++i)
    a += (i ? "," : "") + item(xs[i]);
  return a + "]";
}

class JsonLinesSink : public Hook {
public:
  JsonLinesSink(std::string path, FILE *file) : path_(std::move(path)), file_(file) {}
  ~JsonLinesSink() override {
    if (file_)
      std::fclose(file_);
  }
  Status onStepEnd(const StepEvent &e) override { return line(toJson(e), false); }
  Status onEvalEnd(const EvalEvent &e) override { return line(toJson(e), true); }
  Status onEpochEnd(const EpochEvent &e) override { return line(toJson(e), true); }
  Status onAnomaly(const AnomalyEvent &e) override { return line(toJson(e), true); }
  Status onSample(const SampleEvent &e) override { return line(toJson(e), true); }
  Status onRunEnd() override {
    if (!file_)
      return Status();
    bool failed = std::fclose(file_) != 0;
    file_ = nullptr;
    return failed ? Status::error(path_ + ": cannot write: " + std::strerror(errno)) : Status();
  }

private:
  Status line(const std::string &json, bool flush) {
    if (!file_)
      return Status();
    std::fputs(json.c_str(), file_);
    std::fputc('\n', file_);
    if ((flush && std::fflush(file_) != 0) || std::ferror(file_))
      return Status::error(path_ + ": cannot write: " + std::strerror(errno));
    return Status();
  }

  std::string path_;
  FILE *file_;
};

} // namespace

std::string toJson(const StepEvent &e) {
  Object o("step");
  o.integer("step", e.step).integer("epoch", e.epoch).num("loss", e.loss).num("lr", e.lr);
  o.num("grad_norm", e.gradNorm).num("loss_scale", e.lossScale);
  o.num("skipped_steps", e.skippedSteps);
  if (e.skipped)
    o.add("skipped", "true");
  o.num("step_time_s", e.stepSeconds).num("samples_per_s", e.samplesPerSecond);
  return o.integer("rss_bytes", e.residentBytes).add("wall_time", wall(e.wallTime)).str();
}

std::string toJson(const EvalEvent &e) {
  Object o("eval");
  o.integer("step", e.step).integer("epoch", e.epoch).add("split", quoted(e.split));
  o.num("loss", e.loss).integer("examples", e.examples).num("accuracy", e.accuracy);
  if (e.metrics) {
    const ClassMetrics &m = *e.metrics;
    std::vector<int64_t> classes(m.classes);
    for (int64_t c = 0; c < m.classes; ++c)
      classes[c] = c;
    o.add("per_class", array(classes, [&](int64_t c) {
      return Object()
          .integer("class", c)
          .num("precision", m.precision[c])
          .num("recall", m.recall[c])
          .num("f1", m.f1[c])
          .integer("support", m.support[c])
          .str();
    }));
    o.num("macro_f1", m.macroF1);
    std::vector<int64_t> rows(m.classes);
    for (int64_t r = 0; r < m.classes; ++r)
      rows[r] = r;
    o.add("confusion", array(rows, [&](int64_t r) {
      std::vector<int64_t> row(m.confusion.begin() + r * m.classes,
                               m.confusion.begin() + (r + 1) * m.classes);
      return array(row, [](int64_t n) { return std::to_string(n); });
    }));
  }
  o.add("worst", array(e.worst, [](const WrongPrediction &w) {
    return "{\"row\":" + std::to_string(w.row) + ",\"label\":" + std::to_string(w.label) +
           ",\"predicted\":" + std::to_string(w.predicted) +
           ",\"probability\":" + number(w.probability) + "}";
  }));
  return o.add("wall_time", wall(e.wallTime)).str();
}

std::string toJson(const EpochEvent &e) {
  Object o("epoch");
  o.integer("epoch", e.epoch).integer("step", e.step).num("train_loss", e.trainLoss);
  o.num("val_loss", e.valLoss).num("val_accuracy", e.valAccuracy).num("lr", e.lr);
  return o.num("seconds", e.seconds).num("samples_per_s", e.samplesPerSecond).str();
}

std::string toJson(const AnomalyEvent &e) {
  Object o("anomaly");
  o.add("kind", quoted(anomalyKindName(e.kind))).integer("step", e.step);
  return o.integer("epoch", e.epoch).add("message", quoted(e.message)).str();
}

std::string toJson(const SampleEvent &e) {
  Object o("sample");
  o.integer("step", e.step).integer("epoch", e.epoch).num("temperature", e.temperature);
  return o.add("prompt", quoted(e.prompt)).add("text", quoted(e.text)).str();
}

namespace {

/// The lines of an interrupted run's file that a run resumed at `resumeStep` keeps; a line cut
/// short by a kill, or not one of ours, ends what is kept.
std::string keptLines(const std::string &text, int64_t resumeStep) {
  std::string kept;
  for (size_t at = 0; at < text.size();) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos)
      break;  // no newline: a partial write
    std::string_view line(text.data() + at, end - at);
    size_t key = line.find("\"step\":");
    if (line.empty() || line.back() != '}' || key == std::string_view::npos)
      break;
    int64_t step = std::strtoll(line.data() + key + 7, nullptr, 10);
    bool finalTest = line.find("\"event\":\"eval\"") != std::string_view::npos &&
                     line.find("\"split\":\"test\"") != std::string_view::npos;
    if (keptOnResume(step, finalTest, resumeStep))
      kept.append(line).append("\n");
    at = end + 1;
  }
  return kept;
}

} // namespace

nnc::StatusOr<std::unique_ptr<Hook>> openJsonLines(const std::string &path, int64_t resumeStep) {
  if (resumeStep >= 0 && std::filesystem::exists(path)) {
    nnc::StatusOr<std::string> text = readFile(path);
    if (!text.ok())
      return text.status();
    if (Status s = writeFile(path, keptLines(*text, resumeStep)); !s.ok())
      return s;
  }
  FILE *file = std::fopen(path.c_str(), resumeStep >= 0 ? "a" : "w");
  if (!file)
    return Status::error(path + ": cannot write: " + std::strerror(errno));
  return std::unique_ptr<Hook>(new JsonLinesSink(path, file));
}

} // namespace nnrt::monitor
