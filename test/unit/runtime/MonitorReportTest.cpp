// The monitor's file sinks and terminal line: the HTML report's plots (point counts, averaging
// down, the heatmap's cells, thumbnails), the PNG encoder's bytes, JSON lines and the progress
// line's format.
#include "runtime/FileIO.h"
#include "runtime/monitor/HtmlReport.h"
#include "support/AtomicFile.h"
#include "runtime/monitor/JsonLines.h"
#include "runtime/monitor/Png.h"
#include "runtime/monitor/Progress.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <unistd.h>

namespace nnrt::monitor {
namespace {

/// The number of "x,y" pairs in the points attribute of the polyline with data-series `id`.
int polylinePoints(const std::string &html, const std::string &id) {
  std::smatch m;
  std::regex polyline("data-series=\"" + id + "\"[^>]*points=\"([^\"]*)\"");
  if (!std::regex_search(html, m, polyline))
    return -1;
  std::string points = m[1];
  return points.empty() ? 0 : int(std::count(points.begin(), points.end(), ' ')) + 1;
}

int count(const std::string &text, const std::string &what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(MonitorReportTest, PlotsHaveOnePointPerFiniteValue) {
  Series s{"a", "A", "#123456"};
  for (int i = 0; i < 7; ++i)
    s.x.push_back(i), s.y.push_back(i == 3 ? NAN : i * i);
  std::string html = linePlot("p", "P", {s});
  EXPECT_NE(html.find("<figure id=\"plot-p\">"), std::string::npos);
  EXPECT_EQ(polylinePoints(html, "a"), 6);  // the NaN is dropped
  EXPECT_NE(html.find("data-points=\"6\""), std::string::npos);

  Series many{"m", "M", "#000000"};
  for (int i = 0; i < 2500; ++i)
    many.x.push_back(i), many.y.push_back(1.0);
  EXPECT_EQ(polylinePoints(linePlot("q", "Q", {many}), "m"), int(kMaxPlotPoints));
}

TEST(MonitorReportTest, ReportHasEveryPlotHeatmapAndGallery) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("nnrt-report-" + std::to_string(::getpid()) + ".html"))
                         .string();
  HtmlReport report(path, "demo.plan");
  for (int64_t step = 1; step <= 8; ++step) {
    StepEvent e;
    e.step = step, e.epoch = (step - 1) / 4 + 1, e.epochs = 2, e.totalSteps = 8;
    e.loss = 2.0 / double(step), e.lr = 0.01, e.gradNorm = 1.0, e.lossScale = 65536;
    ASSERT_TRUE(report.onStepEnd(e).ok());
    if (step % 4)
      continue;
    EvalEvent eval;
    eval.step = step, eval.epoch = e.epoch, eval.split = "val", eval.loss = 1.0 / double(step);
    eval.accuracy = 0.5;
    eval.metrics = ClassMetrics{};
    eval.metrics->classes = 3;
    eval.metrics->confusion = {3, 1, 0, 0, 2, 0, 1, 0, 4};
    eval.metrics->precision = eval.metrics->recall = eval.metrics->f1 = {0.5, 0.5, 0.5};
    eval.metrics->support = {4, 2, 5};
    WrongPrediction image;  // a 2x2 gray image
    image.row = 7, image.label = 1, image.predicted = 2, image.probability = 0.9;
    image.features = {0, 1, 2, 3}, image.channels = 1, image.height = 2, image.width = 2;
    WrongPrediction row;  // tabular
    row.row = 3, row.features = {0.5f, -1.25f};
    eval.worst = {image, row};
    ASSERT_TRUE(report.onEvalEnd(eval).ok());
    EpochEvent epoch;
    epoch.epoch = e.epoch, epoch.step = step, epoch.trainLoss = 1.0;
    ASSERT_TRUE(report.onEpochEnd(epoch).ok());
  }
  ASSERT_TRUE(report.onAnomaly({AnomalyEvent::Overfitting, 8, 2, "overfitting since epoch 2"}).ok());
  ASSERT_TRUE(report.onRunEnd().ok());
  nnc::StatusOr<std::string> html = readFile(path);
  ASSERT_TRUE(html.ok());
  EXPECT_FALSE(std::filesystem::exists(nnc::temporaryPathFor(path)));  // none left beside it
  EXPECT_EQ(polylinePoints(*html, "train-loss"), 8);
  EXPECT_EQ(polylinePoints(*html, "epoch-train-loss"), 2);
  EXPECT_EQ(polylinePoints(*html, "val-loss"), 2);
  EXPECT_EQ(polylinePoints(*html, "val-accuracy"), 2);
  EXPECT_EQ(polylinePoints(*html, "lr"), 8);
  EXPECT_EQ(polylinePoints(*html, "grad-norm"), 8);
  EXPECT_EQ(polylinePoints(*html, "loss-scale"), 8);
  EXPECT_EQ(count(*html, "<rect class=\"cell\""), 9);
  EXPECT_NE(html->find("fill=\"#08306b\""), std::string::npos);  // the largest cell, 4
  EXPECT_EQ(count(*html, "src=\"data:image/png;base64,"), 1);
  EXPECT_NE(html->find("[0.5, -1.25]"), std::string::npos);
  EXPECT_NE(html->find("row 7: true 1, predicted 2 (p 0.900)"), std::string::npos);
  EXPECT_NE(html->find("overfitting since epoch 2"), std::string::npos);
  EXPECT_NE(html->find("finished at step 8 of 8"), std::string::npos);
  EXPECT_EQ(html->find("<script"), std::string::npos);  // self-contained, static
  std::filesystem::remove(path);
}

TEST(MonitorReportTest, PngBytes) {
  std::string png = encodePng({0, 64, 128, 255}, 2, 2, 1);
  ASSERT_GT(png.size(), 8u + 25 + 12 + 12);
  EXPECT_EQ(png.substr(0, 8), "\x89PNG\r\n\x1a\n");
  // IHDR: length 13, width 2, height 2, depth 8, gray.
  EXPECT_EQ(png.substr(8, 8), std::string("\0\0\0\x0dIHDR", 8));
  EXPECT_EQ(png.substr(16, 13), std::string("\0\0\0\x02\0\0\0\x02\x08\0\0\0\0", 13));
  uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef *>(png.data() + 12), 17));
  EXPECT_EQ(png.substr(29, 4), std::string({char(crc >> 24), char(crc >> 16), char(crc >> 8),
                                            char(crc)}));
  // IDAT inflates to the rows, each after filter byte 0.
  size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  uint32_t length = uint8_t(png[idat - 4]) << 24 | uint8_t(png[idat - 3]) << 16 |
                    uint8_t(png[idat - 2]) << 8 | uint8_t(png[idat - 1]);
  unsigned char raw[16];
  uLongf rawSize = sizeof raw;
  ASSERT_EQ(uncompress(raw, &rawSize, reinterpret_cast<const Bytef *>(png.data() + idat + 4),
                       length),
            Z_OK);
  EXPECT_EQ(std::string(reinterpret_cast<char *>(raw), rawSize),
            std::string("\0\x00\x40\0\x80\xff", 6));
  EXPECT_EQ(png.substr(png.size() - 12), std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12));
  EXPECT_EQ(base64("Man"), "TWFu");
  EXPECT_EQ(base64("Ma"), "TWE=");
  EXPECT_EQ(base64("M"), "TQ==");
}

TEST(MonitorReportTest, JsonLines) {
  StepEvent step;
  step.step = 3, step.epoch = 1, step.loss = 0.5, step.lr = NAN, step.gradNorm = 2.0;
  step.wallTime = 1700000000.25;
  EXPECT_EQ(toJson(step), "{\"event\":\"step\",\"step\":3,\"epoch\":1,\"loss\":0.5,\"lr\":null,"
                          "\"grad_norm\":2,\"step_time_s\":0,\"samples_per_s\":0,"
                          "\"rss_bytes\":0,\"wall_time\":1700000000.250}");
  EvalEvent eval;
  eval.split = "val", eval.loss = 1.5, eval.accuracy = 0.25;
  eval.metrics = ClassMetrics{2, {1, 1, 0, 2}, {2, 2}, {1, 3}, {1, 2.0 / 3}, {0.5, 1}, {0.5, 0.8}, 0.65};
  std::string json = toJson(eval);
  EXPECT_NE(json.find("\"per_class\":[{\"class\":0,\"precision\":1,\"recall\":0.5,\"f1\":0.5,"
                      "\"support\":2},"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("\"confusion\":[[1,1],[0,2]]"), std::string::npos) << json;
  EXPECT_EQ(toJson(AnomalyEvent{AnomalyEvent::GradNormSpike, 4, 1, "a \"spike\""}),
            "{\"event\":\"anomaly\",\"kind\":\"grad_norm_spike\",\"step\":4,\"epoch\":1,"
            "\"message\":\"a \\\"spike\\\"\"}");
}

TEST(MonitorReportTest, ProgressLine) {
  StepEvent e;
  e.epoch = 2, e.epochs = 5, e.batchInEpoch = 45, e.stepsPerEpoch = 100, e.loss = 0.4321;
  e.lr = 0.001;
  EXPECT_EQ(ProgressSink::describe(e, 1234.4, 31, 65, 20),
            "epoch 2/5  step 45/100  [#########...........]  loss 0.4321  lr 0.001  "
            "1234 samples/s  0:31<1:05");
  std::ostringstream out;  // not a terminal: only warnings
  ProgressSink sink(out, ProgressMode::None);
  ASSERT_TRUE(sink.onStepEnd(e).ok());
  ASSERT_TRUE(sink.onAnomaly({AnomalyEvent::Underfitting, 0, 3, "underfitting: x"}).ok());
  ASSERT_TRUE(sink.onAnomaly({AnomalyEvent::NonFiniteLoss, 1, 1, "said by the trainer"}).ok());
  EXPECT_EQ(out.str(), "warning: underfitting: x\n");
}

TEST(MonitorReportTest, SampleInEverySink) {
  SampleEvent sample{12, 2, "to be\n", "or <not>", 0.5};
  EXPECT_EQ(toJson(sample), "{\"event\":\"sample\",\"step\":12,\"epoch\":2,\"temperature\":0.5,"
                            "\"prompt\":\"to be\\u000a\",\"text\":\"or <not>\"}");
  std::ostringstream out;  // shown in every progress mode, on one line
  ProgressSink sink(out, ProgressMode::None);
  ASSERT_TRUE(sink.onSample(sample).ok());
  EXPECT_EQ(out.str(), "sample at step 12: to be\\n|or <not>\n");
  std::string path = ::testing::TempDir() + "/sample_report.html";
  HtmlReport report(path, "gpt.plan");
  ASSERT_TRUE(report.onSample(sample).ok());
  std::string html = report.render();
  EXPECT_NE(html.find("<section id=\"samples\">"), std::string::npos);
  EXPECT_NE(html.find("<b>to be\n</b>|or &lt;not&gt;</td>"), std::string::npos) << html;
  std::filesystem::remove(path);
}

} // namespace
} // namespace nnrt::monitor
