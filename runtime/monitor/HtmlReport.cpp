// HtmlReport. Plots are drawn by hand into SVG: a 560 x 280 frame, a 60 px margin on the left for
// the y labels, five ticks per axis, one polyline per series (class "series", data-series and
// data-points attributes, which the Chromium test reads back).
#include "runtime/monitor/HtmlReport.h"

#include "runtime/FileIO.h"
#include "runtime/monitor/Png.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace nnrt::monitor {

using nnc::Status;

namespace {

std::string fmt(const char *pattern, double x) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, x);
  return text;
}

std::string escape(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

/// The finite points of `s`, averaged in equal buckets down to kMaxPlotPoints.
std::vector<std::pair<double, double>> plotPoints(const Series &s) {
  std::vector<std::pair<double, double>> points;
  for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
      points.emplace_back(s.x[i], s.y[i]);
  if (points.size() <= kMaxPlotPoints)
    return points;
  std::vector<std::pair<double, double>> reduced;
  for (size_t b = 0; b < kMaxPlotPoints; ++b) {
    size_t begin = b * points.size() / kMaxPlotPoints, end = (b + 1) * points.size() / kMaxPlotPoints;
    double x = 0, y = 0;
    for (size_t i = begin; i < end; ++i)
      x += points[i].first, y += points[i].second;
    reduced.emplace_back(x / double(end - begin), y / double(end - begin));
  }
  return reduced;
}

constexpr double kWidth = 560, kHeight = 280, kLeft = 64, kRight = 16, kTop = 12, kBottom = 36;

} // namespace

std::string linePlot(const std::string &id, const std::string &title,
                     const std::vector<Series> &series) {
  std::vector<std::vector<std::pair<double, double>>> points;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Series &s : series) {
    points.push_back(plotPoints(s));
    for (auto [x, y] : points.back()) {
      x0 = std::min(x0, x), x1 = std::max(x1, x);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  if (!(x0 <= x1))
    x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 == x0)
    x0 -= 1, x1 += 1;
  if (y1 == y0) {
    double pad = y0 == 0 ? 1 : std::fabs(y0) * 0.1;
    y0 -= pad, y1 += pad;
  }
  double pad = (y1 - y0) * 0.05;
  bool positive = y0 >= 0;  // rates, norms, losses: no negative tick below them
  y0 -= pad, y1 += pad;
  if (positive)
    y0 = std::max(y0, 0.0);
  double plotW = kWidth - kLeft - kRight, plotH = kHeight - kTop - kBottom;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * plotW; };
  auto py = [&](double y) { return kTop + (1 - (y - y0) / (y1 - y0)) * plotH; };

  std::string svg = "<figure id=\"plot-" + id + "\"><figcaption>" + escape(title) +
                    "</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    fmt("%.0f", kWidth) + "\" height=\"" + fmt("%.0f", kHeight) + "\">";
  svg += "<rect x=\"" + fmt("%.0f", kLeft) + "\" y=\"" + fmt("%.0f", kTop) + "\" width=\"" +
         fmt("%.0f", plotW) + "\" height=\"" + fmt("%.0f", plotH) +
         "\" fill=\"none\" stroke=\"#888\"/>";
  for (int t = 0; t <= 4; ++t) {
    double y = y0 + (y1 - y0) * t / 4, x = x0 + (x1 - x0) * t / 4;
    svg += "<line x1=\"" + fmt("%.1f", kLeft) + "\" x2=\"" + fmt("%.1f", kLeft + plotW) +
           "\" y1=\"" + fmt("%.1f", py(y)) + "\" y2=\"" + fmt("%.1f", py(y)) +
           "\" stroke=\"#eee\"/>";
    svg += "<text x=\"" + fmt("%.1f", kLeft - 6) + "\" y=\"" + fmt("%.1f", py(y) + 4) +
           "\" text-anchor=\"end\">" + fmt("%.3g", y) + "</text>";
    svg += "<text x=\"" + fmt("%.1f", px(x)) + "\" y=\"" + fmt("%.1f", kTop + plotH + 16) +
           "\" text-anchor=\"middle\">" + fmt("%.0f", x) + "</text>";
  }
  svg += "<text x=\"" + fmt("%.1f", kLeft + plotW / 2) + "\" y=\"" + fmt("%.1f", kHeight - 4) +
         "\" text-anchor=\"middle\">step</text>";
  std::string legend = "<div class=\"legend\">";
  for (size_t i = 0; i < series.size(); ++i) {
    const Series &s = series[i];
    svg += "<polyline class=\"series\" data-series=\"" + s.id + "\" data-points=\"" +
           std::to_string(points[i].size()) + "\" fill=\"none\" stroke=\"" + s.color +
           "\" stroke-width=\"2.5\" stroke-linejoin=\"round\" points=\"";
    for (size_t k = 0; k < points[i].size(); ++k)
      svg += (k ? " " : "") + fmt("%.1f", px(points[i][k].first)) + "," +
             fmt("%.1f", py(points[i][k].second));
    svg += "\"/>";
    if (s.markers)
      for (auto [x, y] : points[i])
        svg += "<circle cx=\"" + fmt("%.1f", px(x)) + "\" cy=\"" + fmt("%.1f", py(y)) +
               "\" r=\"4\" fill=\"" + s.color + "\"/>";
    legend += "<span><i style=\"background:" + s.color + "\"></i>" + escape(s.label) + "</span>";
  }
  return svg + "</svg>" + legend + "</div></figure>\n";
}

std::string confusionHeatmap(const ClassMetrics &m, const std::string &id) {
  int64_t n = m.classes, maxCount = 1;
  for (int64_t count : m.confusion)
    maxCount = std::max(maxCount, count);
  double cell = std::clamp(420.0 / double(std::max<int64_t>(n, 1)), 6.0, 36.0), left = 44,
         top = 34;
  double size = cell * double(n);
  std::string svg = "<svg id=\"" + id + "\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    fmt("%.0f", left + size + 10) + "\" height=\"" + fmt("%.0f", top + size + 10) +
                    "\" data-classes=\"" + std::to_string(n) + "\">";
  svg += "<text x=\"" + fmt("%.1f", left + size / 2) +
         "\" y=\"12\" text-anchor=\"middle\">predicted</text>";
  svg += "<text x=\"12\" y=\"" + fmt("%.1f", top + size / 2) + "\" transform=\"rotate(-90 12 " +
         fmt("%.1f", top + size / 2) + ")\" text-anchor=\"middle\">true</text>";
  if (cell >= 12)  // class numbers along both axes
    for (int64_t c = 0; c < n; ++c) {
      svg += "<text x=\"" + fmt("%.1f", left + (double(c) + 0.5) * cell) + "\" y=\"" +
             fmt("%.1f", top - 4) + "\" text-anchor=\"middle\">" + std::to_string(c) + "</text>";
      svg += "<text x=\"" + fmt("%.1f", left - 4) + "\" y=\"" +
             fmt("%.1f", top + (double(c) + 0.5) * cell + 4) + "\" text-anchor=\"end\">" +
             std::to_string(c) + "</text>";
    }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t p = 0; p < n; ++p) {
      int64_t count = m.confusion[t * n + p];
      double a = double(count) / double(maxCount);  // white to dark blue (8, 48, 107)
      int r = int(255 + (8 - 255) * a + 0.5), g = int(255 + (48 - 255) * a + 0.5),
          b = int(255 + (107 - 255) * a + 0.5);
      char color[16];
      std::snprintf(color, sizeof color, "#%02x%02x%02x", r, g, b);
      double x = left + double(p) * cell, y = top + double(t) * cell;
      svg += "<rect class=\"cell\" x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", y) +
             "\" width=\"" + fmt("%.1f", cell) + "\" height=\"" + fmt("%.1f", cell) +
             "\" fill=\"" + color + "\"><title>true " + std::to_string(t) + ", predicted " +
             std::to_string(p) + ": " + std::to_string(count) + "</title></rect>";
      if (cell >= 24 && count > 0)
        svg += "<text x=\"" + fmt("%.1f", x + cell / 2) + "\" y=\"" + fmt("%.1f", y + cell / 2 + 4) +
               "\" text-anchor=\"middle\" style=\"fill:" + (a > 0.5 ? "#fff" : "#000") +
               "\" font-size=\"10\">" + std::to_string(count) + "</text>";
    }
  return svg + "</svg>\n";
}

namespace {

std::string thumbnail(const WrongPrediction &w) {
  int64_t c = w.channels, h = w.height, wd = w.width;
  if (int64_t(w.features.size()) != c * h * wd || (c != 1 && c != 3))
    return "";
  auto [lo, hi] = std::minmax_element(w.features.begin(), w.features.end());
  float range = *hi > *lo ? *hi - *lo : 1;
  std::vector<uint8_t> pixels(size_t(h * wd * c));
  for (int64_t y = 0; y < h; ++y)  // (C, H, W) planes to interleaved rows
    for (int64_t x = 0; x < wd; ++x)
      for (int64_t k = 0; k < c; ++k)
        pixels[(y * wd + x) * c + k] =
            uint8_t(std::lround(255 * (w.features[(k * h + y) * wd + x] - *lo) / range));
  return "<img class=\"thumb\" width=\"" + std::to_string(wd * 3) + "\" height=\"" +
         std::to_string(h * 3) + "\" src=\"data:image/png;base64," +
         base64(encodePng(pixels, int(wd), int(h), int(c))) + "\">";
}

std::string rowText(const WrongPrediction &w) {
  std::string text = "[";
  for (size_t i = 0; i < w.features.size() && i < 8; ++i)
    text += (i ? ", " : "") + fmt("%.3g", w.features[i]);
  if (w.features.size() > 8)
    text += ", ... (" + std::to_string(w.features.size()) + " values)";
  return "<pre class=\"row\">" + text + "]</pre>";
}

std::string evaluation(const EvalEvent &e, const std::vector<std::string> &classNames) {
  auto name = [&](int64_t c) {
    return c >= 0 && c < int64_t(classNames.size()) ? escape(classNames[c]) : std::to_string(c);
  };
  std::string html = "<section class=\"eval\" id=\"eval-" + e.split + "\"><h2>" +
                     (e.split == "test" ? std::string("Test set") : "Validation") +
                     (e.epoch > 0 ? " (epoch " + std::to_string(e.epoch) + ")" : "") +
                     "</h2><p>loss " + fmt("%.4f", e.loss);
  if (e.accuracy)
    html += ", accuracy " + fmt("%.2f%%", 100 * *e.accuracy);
  html += ", " + std::to_string(e.examples) + " examples";
  if (e.metrics)
    html += ", macro F1 " + fmt("%.4f", e.metrics->macroF1);
  html += "</p>\n";
  if (e.metrics) {
    const ClassMetrics &m = *e.metrics;
    html += "<div class=\"pair\"><figure><figcaption>Confusion matrix</figcaption>" +
            confusionHeatmap(m, "confusion-" + e.split) + "</figure>";
    html += "<table class=\"per-class\"><tr><th>class</th><th>precision</th><th>recall</th>"
            "<th>F1</th><th>support</th></tr>";
    for (int64_t c = 0; c < m.classes; ++c)
      html += "<tr><td>" + name(c) + "</td><td>" + fmt("%.3f", m.precision[c]) +
              "</td><td>" + fmt("%.3f", m.recall[c]) + "</td><td>" + fmt("%.3f", m.f1[c]) +
              "</td><td>" + std::to_string(m.support[c]) + "</td></tr>";
    html += "</table></div>\n";
  }
  if (!e.worst.empty()) {
    html += "<h3>Most confident mistakes</h3><div class=\"gallery\">";
    for (const WrongPrediction &w : e.worst) {
      std::string picture = w.height > 0 ? thumbnail(w) : "";
      html += "<figure class=\"mistake\">" + (picture.empty() ? rowText(w) : picture) +
              "<figcaption>row " + std::to_string(w.row) + ": true " + name(w.label) +
              ", predicted " + name(w.predicted) + " (p " +
              fmt("%.3f", w.probability) + ")</figcaption></figure>";
    }
    html += "</div>\n";
  }
  return html + "</section>\n";
}

const char *kStyle = R"(body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}h3{font-size:14px}
.plots{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-weight:600}
svg text{font-size:11px;fill:#444}.legend span{margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:12px;height:3px;margin-right:4px;vertical-align:middle}
.pair{display:flex;gap:24px;align-items:flex-start}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #ddd}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.mistake{width:180px;font-size:12px}
.thumb{image-rendering:pixelated;border:1px solid #ccc}pre.row{white-space:pre-wrap;margin:0}
.warn{color:#a40}
)";

} // namespace

Status HtmlReport::onStepEnd(const StepEvent &e) {
  double x = double(e.step);
  trainLoss_.x.push_back(x), trainLoss_.y.push_back(e.skipped ? NAN : e.loss);
  lr_.x.push_back(x), lr_.y.push_back(e.lr);
  if (e.gradNorm)
    gradNorm_.x.push_back(x), gradNorm_.y.push_back(*e.gradNorm);
  if (e.lossScale)
    lossScale_.x.push_back(x), lossScale_.y.push_back(*e.lossScale);
  skipped_ += e.skipped;
  lastStep_ = e;
  return Status();
}

Status HtmlReport::onEvalEnd(const EvalEvent &e) {
  if (e.split == "test") {
    testEval_ = e;
  } else {
    valLoss_.x.push_back(double(e.step)), valLoss_.y.push_back(e.loss);
    if (e.accuracy)
      valAccuracy_.x.push_back(double(e.step)), valAccuracy_.y.push_back(*e.accuracy);
    lastEval_ = e;
  }
  // No rewrite here: the trainer evaluates at an epoch's end (then the epoch's event rewrites
  // the page) and on the test set at the run's end (then the run's end does).
  return Status();
}

Status HtmlReport::onEpochEnd(const EpochEvent &e) {
  epochLoss_.x.push_back(double(e.step)), epochLoss_.y.push_back(e.trainLoss);
  return write();
}

Status HtmlReport::onAnomaly(const AnomalyEvent &e) {
  if (e.kind == AnomalyEvent::GradNormSpike && ++spikes_ > 20)
    return Status();  // the count says how many more
  anomalies_.push_back(e);
  return Status();
}

Status HtmlReport::onSample(const SampleEvent &event) {
  samples_.push_back(event);
  if (samples_.size() > kMaxSamples)
    samples_.erase(samples_.begin());
  return write();
}

Status HtmlReport::onRunEnd() {
  finished_ = true;
  return write();
}

std::string HtmlReport::render() const {
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>nnrun: " +
                     escape(title_) + "</title><style>" + kStyle + "</style></head><body>\n";
  html += "<h1>Training report: " + escape(title_) + "</h1>\n<p id=\"status\">";
  if (lastStep_) {
    const StepEvent &s = *lastStep_;
    html += (finished_ ? "finished at step " : "training: step ") + std::to_string(s.step) +
            " of " + std::to_string(s.totalSteps) + ", epoch " + std::to_string(s.epoch) + "/" +
            std::to_string(s.epochs) + "; last loss " + fmt("%.4f", s.loss) + ", lr " +
            fmt("%.4g", s.lr) + ", " + fmt("%.0f", s.samplesPerSecond) + " samples/s, " +
            fmt("%.1f", double(s.residentBytes) / (1 << 20)) + " MiB resident";
  } else {
    html += "no steps yet";
  }
  std::time_t now = std::time(nullptr);
  char stamp[64];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  html += " (updated " + std::string(stamp) + ")</p>\n";
  if (!configuration_.empty()) {
    html += "<section id=\"configuration\"><h2>Configuration</h2><table class=\"config\">";
    for (const auto &[name, value] : configuration_)
      html += "<tr><th>" + escape(name) + "</th><td>" + escape(value) + "</td></tr>";
    html += "</table></section>\n";
  }

  html += "<section id=\"diagnostics\"><h2>Diagnostics</h2><ul>";
  if (anomalies_.empty())
    html += "<li>no anomalies</li>";
  for (const AnomalyEvent &a : anomalies_)
    html += "<li class=\"warn\" data-kind=\"" + std::string(anomalyKindName(a.kind)) + "\">" +
            escape(a.message) + "</li>";
  if (spikes_ > 20)
    html += "<li class=\"warn\">" + std::to_string(spikes_ - 20) +
            " more gradient-norm spikes</li>";
  if (skipped_ > 0)
    html += "<li class=\"warn\">" + std::to_string(skipped_) + " non-finite steps skipped</li>";
  html += "</ul></section>\n<div class=\"plots\">\n";
  html += linePlot("loss", "Loss", {trainLoss_, epochLoss_, valLoss_});
  if (!valAccuracy_.x.empty())
    html += linePlot("accuracy", "Validation accuracy", {valAccuracy_});
  html += linePlot("lr", "Learning rate", {lr_});
  if (!gradNorm_.x.empty())
    html += linePlot("grad-norm", "Gradient global norm (before clipping)", {gradNorm_});
  if (!lossScale_.x.empty())
    html += linePlot("loss-scale", "fp16 loss scale", {lossScale_});
  html += "</div>\n";
  if (!samples_.empty()) {
    html += "<section id=\"samples\"><h2>Generated samples</h2><table><tr><th>step</th>"
            "<th>prompt | generated</th></tr>";
    for (const SampleEvent &sample : samples_)
      html += "<tr class=\"sample\"><td>" + std::to_string(sample.step) +
              "</td><td style=\"white-space:pre-wrap;font-family:monospace\"><b>" +
              escape(sample.prompt) + "</b>|" + escape(sample.text) + "</td></tr>";
    html += "</table></section>\n";
  }
  if (lastEval_)
    html += evaluation(*lastEval_, classNames_);
  if (testEval_)
    html += evaluation(*testEval_, classNames_);
  return html + "</body></html>\n";
}

Status HtmlReport::write() const { return writeFile(path_, render()); }

} // namespace nnrt::monitor
