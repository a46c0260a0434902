// The HTML report (--report FILE.html): one self-contained page (inline CSS, SVG plots, PNG
// thumbnails as data URIs; no scripts, no network) rewritten atomically (temporary file, rename)
// at every epoch end (after its evaluation), new sample and at the end of the run, so a browser
// can reload it while the job trains. The run's configuration (model, optimizer, schedule,
// precision, ranks, versions, flags) heads it. Plots: train/validation loss, validation
// accuracy, learning rate, gradient norm and loss scale (when the plan has them); then the last
// evaluation's confusion-matrix heatmap,
// per-class table and gallery of its most confident mistakes, the diagnostics, and a language
// model's generated samples.
#pragma once

#include "runtime/monitor/Hooks.h"

namespace nnrt::monitor {

/// A line plot's data: one polyline (and optional point markers) per series.
struct Series {
  std::string id, label, color;  // id: the polyline's data-series attribute
  std::vector<double> x, y;
  bool markers = false;
};

/// A <figure id="plot-<id>"> with an SVG line plot of `series`; non-finite points are dropped,
/// and a series of more than kMaxPlotPoints points is averaged down to that many.
std::string linePlot(const std::string &id, const std::string &title,
                     const std::vector<Series> &series);
constexpr size_t kMaxPlotPoints = 1000;

/// An SVG heatmap of the confusion matrix (rows: true class, columns: predicted).
std::string confusionHeatmap(const ClassMetrics &metrics, const std::string &id = "confusion");

/// What the run was: (name, value) rows for the report's configuration table.
using RunConfiguration = std::vector<std::pair<std::string, std::string>>;

class HtmlReport : public Hook {
public:
  /// `classNames` (may be empty) label the per-class table and the mistakes' captions.
  HtmlReport(std::string path, std::string title, RunConfiguration configuration = {},
             std::vector<std::string> classNames = {})
      : path_(std::move(path)), title_(std::move(title)),
        configuration_(std::move(configuration)), classNames_(std::move(classNames)) {}

  nnc::Status onStepEnd(const StepEvent &event) override;
  nnc::Status onEvalEnd(const EvalEvent &event) override;
  nnc::Status onEpochEnd(const EpochEvent &event) override;
  nnc::Status onAnomaly(const AnomalyEvent &event) override;
  nnc::Status onSample(const SampleEvent &event) override;
  nnc::Status onRunEnd() override;

  /// The page as it stands.
  std::string render() const;

private:
  nnc::Status write() const;

  std::string path_, title_;
  RunConfiguration configuration_;
  std::vector<std::string> classNames_;
  Series trainLoss_{"train-loss", "train loss (per step)", "#1f77b4"};
  Series epochLoss_{"epoch-train-loss", "train loss (epoch mean)", "#17becf", {}, {}, true};
  Series valLoss_{"val-loss", "validation loss", "#ff7f0e", {}, {}, true};
  Series valAccuracy_{"val-accuracy", "validation accuracy", "#2ca02c", {}, {}, true};
  Series lr_{"lr", "learning rate", "#9467bd"};
  Series gradNorm_{"grad-norm", "gradient norm (pre-clip)", "#d62728"};
  Series lossScale_{"loss-scale", "loss scale", "#8c564b"};
  std::optional<StepEvent> lastStep_;
  std::optional<EvalEvent> lastEval_, testEval_;
  std::vector<AnomalyEvent> anomalies_;
  std::vector<SampleEvent> samples_;  // the last kMaxSamples generated samples
  static constexpr size_t kMaxSamples = 50;
  int64_t spikes_ = 0, skipped_ = 0;
  bool finished_ = false;
};

} // namespace nnrt::monitor
