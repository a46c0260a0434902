// TensorBoard event files: CRC32C against its published check value, the hand-written protobuf
// bytes of one event, and a file written by the sink read back with its framing and CRCs checked
// (and a corrupted byte caught).
#include "runtime/FileIO.h"
#include "runtime/monitor/JsonLines.h"
#include "runtime/monitor/TensorBoard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <unistd.h>

namespace nnrt::monitor {
namespace {

namespace fs = std::filesystem;

fs::path scratchDir(const char *name) {
  fs::path dir = fs::temp_directory_path() /
                 ("nnrt-monitor-" + std::string(name) + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(MonitorTensorBoardTest, Crc32cCheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C catalogue's check value
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(maskCrc(0), 0xa282ead8u);
}

TEST(MonitorTensorBoardTest, EncodesEventFieldsByHand) {
  TbEvent event;
  event.wallTime = 1.0;
  event.step = 5;
  event.scalars = {{"a", 1.0f}};
  std::string expected =
      std::string("\x09\x00\x00\x00\x00\x00\x00\xf0\x3f", 9) +  // wall_time = 1 (double 1.0)
      std::string("\x10\x05", 2) +                              // step = 2 (varint 5)
      std::string("\x2a\x0a", 2) +                              // summary = 5, 10 bytes
      std::string("\x0a\x08", 2) +                              //   value = 1, 8 bytes
      std::string("\x0a\x01\x61", 3) +                          //     tag = 1, "a"
      std::string("\x15\x00\x00\x80\x3f", 5);                   //     simple_value = 2, 1.0f
  EXPECT_EQ(encodeEvent(event), expected);
  std::string record = frameRecord("abc");
  ASSERT_EQ(record.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(record.substr(0, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
}

TEST(MonitorTensorBoardTest, SinkFileRoundTrips) {
  fs::path dir = scratchDir("tb");
  nnc::StatusOr<std::unique_ptr<Hook>> sink = openTensorBoard(dir.string(), "run-1");
  ASSERT_TRUE(sink.ok()) << sink.status().message();
  dir /= "run-1";  // each run has its own directory
  for (int64_t step = 1; step <= 3; ++step) {
    StepEvent e;
    e.step = step;
    e.loss = 2.0 / double(step);
    e.lr = 0.1;
    e.gradNorm = 0.5 * double(step);
    e.wallTime = 1700000000.0 + double(step);
    ASSERT_TRUE((*sink)->onStepEnd(e).ok());
  }
  EvalEvent eval;
  eval.step = 3, eval.split = "val", eval.loss = 0.25, eval.accuracy = 0.75;
  ASSERT_TRUE((*sink)->onEvalEnd(eval).ok());
  ASSERT_TRUE((*sink)->onRunEnd().ok());

  std::vector<fs::path> files(fs::directory_iterator(dir), fs::directory_iterator{});
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].filename().string().find("events.out.tfevents."), std::string::npos);
  nnc::StatusOr<std::vector<TbEvent>> events = readEventFile(files[0].string());
  ASSERT_TRUE(events.ok()) << events.status().message();
  ASSERT_EQ(events->size(), 5u);
  EXPECT_EQ((*events)[0].fileVersion, "brain.Event:2");
  const TbEvent &second = (*events)[2];
  EXPECT_EQ(second.step, 2);
  EXPECT_EQ(second.wallTime, 1700000002.0);
  ASSERT_GE(second.scalars.size(), 3u);
  EXPECT_EQ(second.scalars[0], (std::pair<std::string, float>("train/loss", 1.0f)));
  EXPECT_EQ(second.scalars[1], (std::pair<std::string, float>("train/lr", 0.1f)));
  EXPECT_EQ(second.scalars[2], (std::pair<std::string, float>("train/grad_norm", 1.0f)));
  const TbEvent &last = (*events)[4];
  EXPECT_EQ(last.step, 3);
  EXPECT_EQ(last.scalars, (std::vector<std::pair<std::string, float>>{{"val/loss", 0.25f},
                                                                      {"val/accuracy", 0.75f}}));

  // One flipped byte in the third record's data is a data CRC mismatch at that record.
  std::string bytes = *readFile(files[0].string());
  size_t at = 0;
  for (int r = 0; r < 2; ++r) {
    uint64_t length;
    std::memcpy(&length, bytes.data() + at, 8);
    at += 12 + length + 4;
  }
  bytes[at + 14] ^= 0x01;
  ASSERT_TRUE(writeFile(files[0].string(), bytes).ok());
  events = readEventFile(files[0].string());
  ASSERT_FALSE(events.ok());
  EXPECT_EQ(events.status().message(), files[0].string() + ": record 2 at byte " +
                                           std::to_string(at) + ": data CRC mismatch");
  // A cut file is a truncated record, not a crash.
  ASSERT_TRUE(writeFile(files[0].string(), bytes.substr(0, at + 5)).ok());
  events = readEventFile(files[0].string());
  ASSERT_FALSE(events.ok());
  EXPECT_NE(events.status().message().find("truncated"), std::string::npos);
  // ... unless the reader is asked for what precedes the damage (a writer killed mid-record).
  events = readEventFile(files[0].string(), /*upToDamage=*/true);
  ASSERT_TRUE(events.ok()) << events.status().message();
  EXPECT_EQ(events->size(), 2u);
  fs::remove_all(dir);
}

/// Steps 1..last of a run to `sink`, an epoch's validation at `evalStep`, a final test at `last`.
void writeRun(Hook &sink, int64_t first, int64_t last, int64_t evalStep) {
  for (int64_t step = first; step <= last; ++step) {
    StepEvent e;
    e.step = step, e.loss = 1.0 / double(step), e.lr = 0.1;
    ASSERT_TRUE(sink.onStepEnd(e).ok());
    EvalEvent eval;
    eval.step = step, eval.split = "val", eval.loss = 0.5;
    if (step == evalStep)
      ASSERT_TRUE(sink.onEvalEnd(eval).ok());
    eval.split = "test";
    if (step == last)
      ASSERT_TRUE(sink.onEvalEnd(eval).ok());
  }
  ASSERT_TRUE(sink.onRunEnd().ok());
}

TEST(MonitorJsonLinesTest, ResumedRunContinuesTheFileWithEveryStepOnce) {
  fs::path dir = scratchDir("jsonl-resume");
  std::string path = (dir / "m.jsonl").string();
  nnc::StatusOr<std::unique_ptr<Hook>> first = openJsonLines(path);
  ASSERT_TRUE(first.ok()) << first.status().message();
  writeRun(**first, 1, 6, 4);
  // A kill mid-line leaves half an object: dropped with everything after the checkpoint.
  std::string text = *readFile(path);
  ASSERT_TRUE(writeFile(path, text + "{\"event\":\"step\",\"st").ok());
  nnc::StatusOr<std::unique_ptr<Hook>> resumed = openJsonLines(path, 4);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  writeRun(**resumed, 5, 8, 8);
  std::vector<std::string> lines;
  std::istringstream in(*readFile(path));
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  std::string steps, evals;
  for (const std::string &line : lines) {
    std::string step = line.substr(line.find("\"step\":") + 7);
    step = step.substr(0, step.find(','));
    if (line.rfind("{\"event\":\"step\"", 0) == 0)
      steps += step + " ";
    else
      evals += (line.find("\"split\":\"test\"") != std::string::npos ? "test@" : "val@") +
               step + " ";
  }
  EXPECT_EQ(steps, "1 2 3 4 5 6 7 8 ");
  EXPECT_EQ(evals, "val@4 val@8 test@8 ");  // the first process's test at 6 is gone
  // Without --resume the file starts over.
  ASSERT_TRUE(openJsonLines(path).ok());
  EXPECT_EQ(*readFile(path), "");
  fs::remove_all(dir);
}

TEST(MonitorTensorBoardTest, ResumedRunContinuesItsDirectoryWithEveryStepOnce) {
  fs::path dir = scratchDir("tb-resume");
  // The first process got to step 6 (its checkpoint: step 4) and wrote a final test it never
  // reached in truth; a resumed one continues from step 4 to 8.
  nnc::StatusOr<std::unique_ptr<Hook>> first = openTensorBoard(dir.string(), "run");
  ASSERT_TRUE(first.ok()) << first.status().message();
  writeRun(**first, 1, 6, 4);
  nnc::StatusOr<std::unique_ptr<Hook>> resumed = openTensorBoard(dir.string(), "run", 4);
  ASSERT_TRUE(resumed.ok()) << resumed.status().message();
  writeRun(**resumed, 5, 8, 8);
  // Another run beside it has a directory of its own.
  ASSERT_TRUE(openTensorBoard(dir.string(), "other").ok());

  std::map<std::pair<int64_t, std::string>, int> seen;  // (step, tag) -> times
  for (const auto &entry : fs::directory_iterator(dir / "run")) {
    nnc::StatusOr<std::vector<TbEvent>> events = readEventFile(entry.path().string());
    ASSERT_TRUE(events.ok()) << events.status().message();
    for (const TbEvent &event : *events)
      for (const auto &[tag, value] : event.scalars)
        ++seen[{event.step, tag}];
  }
  for (int64_t step = 1; step <= 8; ++step)
    EXPECT_EQ((seen[{step, "train/loss"}]), 1) << step;
  EXPECT_EQ((seen[{4, "val/loss"}]), 1);
  EXPECT_EQ((seen[{6, "test/loss"}]), 0);  // written after the checkpoint: gone
  EXPECT_EQ((seen[{8, "test/loss"}]), 1);
  EXPECT_TRUE(fs::is_directory(dir / "other"));
  fs::remove_all(dir);
}

} // namespace
} // namespace nnrt::monitor
