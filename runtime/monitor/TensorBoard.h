// TensorBoard event files (--tensorboard DIR): tensorflow.Event protos with scalar summaries in
// TFRecord framing, written by hand (a few protobuf fields; the runtime does not carry
// TensorFlow's protos), plus the reader the tests use to check framing and CRCs.
//
// A record: uint64 length (little endian), masked CRC32C of those 8 bytes, the data, masked
// CRC32C of the data. Event: wall_time = 1 (double), step = 2 (int64), file_version = 3
// ("brain.Event:2", the first record), summary = 5; Summary.value = 1; Value: tag = 1,
// simple_value = 2 (float).
#pragma once

#include "runtime/monitor/Hooks.h"
#include "support/StatusOr.h"

#include <memory>
#include <string_view>

namespace nnrt::monitor {

/// CRC-32C (Castagnoli), as TFRecord uses it; crc32c("123456789") == 0xE3069283.
uint32_t crc32c(std::string_view data);
/// TFRecord's masking: rotate right by 15, add 0xa282ead8.
uint32_t maskCrc(uint32_t crc);

struct TbEvent {
  double wallTime = 0;
  int64_t step = 0;
  std::string fileVersion;                             // only in the first record
  std::vector<std::pair<std::string, float>> scalars;  // tag, simple_value
};

std::string encodeEvent(const TbEvent &event);
/// One framed record holding `data`.
std::string frameRecord(std::string_view data);

/// The events of a file, checking every length and data CRC; errors name the file, the record
/// and the byte offset. With `upToDamage`, a damaged or truncated tail (a writer killed
/// mid-record) ends the events instead.
nnc::StatusOr<std::vector<TbEvent>> readEventFile(const std::string &path,
                                                  bool upToDamage = false);

/// A sink writing DIR/RUN/events.out.tfevents.<seconds>.<host>.<pid>: per step train/loss,
/// train/lr, train/grad_norm, train/loss_scale, train/skipped_steps, train/samples_per_s,
/// train/step_time_s, train/rss_mib; per evaluation <split>/loss, <split>/accuracy,
/// <split>/macro_f1; per epoch epoch/train_loss. Each run has its own directory RUN, so
/// TensorBoard shows runs sharing DIR side by side. `resumeStep` >= 0: a resumed run, which
/// continues RUN: the events its earlier processes wrote after that step are removed from
/// their files first, so TensorBoard sees every step once.
nnc::StatusOr<std::unique_ptr<Hook>> openTensorBoard(const std::string &dir,
                                                     const std::string &run,
                                                     int64_t resumeStep = -1);

} // namespace nnrt::monitor
