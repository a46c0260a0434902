// TensorBoard event files: CRC32C (bitwise, reflected polynomial 0x82F63B78, a 256-entry table
// built once), protobuf varints and fixed fields written by hand, and the matching reader.
#include "runtime/monitor/TensorBoard.h"

#include "runtime/FileIO.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <unistd.h>

namespace nnrt::monitor {

using nnc::Status;

uint32_t crc32c(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = ~0u;
  for (unsigned char byte : data)
    crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t maskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

namespace {

void varint(std::string &out, uint64_t v) {
  while (v >= 0x80) {
    out += char((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += char(v);
}

template <typename T> void fixed(std::string &out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little endian, as protobuf and TFRecord want
  out.append(bytes, sizeof(T));
}

void tag(std::string &out, int field, int wireType) { varint(out, uint64_t(field) << 3 | wireType); }

void lengthDelimited(std::string &out, int field, std::string_view bytes) {
  tag(out, field, 2);
  varint(out, bytes.size());
  out.append(bytes);
}

/// Reads protobuf fields of `data`, calling visit(field, wireType, varint, bytes).
template <typename F> bool parseFields(std::string_view data, F visit) {
  size_t i = 0;
  auto readVarint = [&](uint64_t &v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= data.size())
        return false;
      unsigned char b = data[i++];
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80))
        return true;
    }
    return false;
  };
  while (i < data.size()) {
    uint64_t key, v = 0;
    if (!readVarint(key))
      return false;
    int field = int(key >> 3), wire = int(key & 7);
    std::string_view bytes;
    if (wire == 0) {
      if (!readVarint(v))
        return false;
    } else if (wire == 1 || wire == 5) {
      size_t n = wire == 1 ? 8 : 4;
      if (i + n > data.size())
        return false;
      bytes = data.substr(i, n);
      i += n;
    } else if (wire == 2) {
      if (!readVarint(v) || i + v > data.size())
        return false;
      bytes = data.substr(i, v);
      i += v;
    } else {
      return false;
    }
    visit(field, wire, v, bytes);
  }
  return true;
}

} // namespace

std::string encodeEvent(const TbEvent &event) {
  std::string out;
  tag(out, 1, 1);
  fixed(out, event.wallTime);
  tag(out, 2, 0);
  varint(out, uint64_t(event.step));
  if (!event.fileVersion.empty())
    lengthDelimited(out, 3, event.fileVersion);
  if (!event.scalars.empty()) {
    std::string summary;
    for (const auto &[name, value] : event.scalars) {
      std::string v;
      lengthDelimited(v, 1, name);
      tag(v, 2, 5);
      fixed(v, value);
      lengthDelimited(summary, 1, v);
    }
    lengthDelimited(out, 5, summary);
  }
  return out;
}

std::string frameRecord(std::string_view data) {
  std::string out, length;
  fixed(length, uint64_t(data.size()));
  out += length;
  fixed(out, maskCrc(crc32c(length)));
  out.append(data);
  fixed(out, maskCrc(crc32c(data)));
  return out;
}

nnc::StatusOr<std::vector<TbEvent>> readEventFile(const std::string &path, bool upToDamage) {
  nnc::StatusOr<std::string> bytes = readFile(path);
  if (!bytes.ok())
    return bytes.status();
  std::string_view file = *bytes;
  std::vector<TbEvent> events;
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, file.data() + at, 4);
    return v;
  };
  // A damaged record: an error, or with upToDamage the end of what is read.
  auto damaged = [&](const std::string &what) -> nnc::StatusOr<std::vector<TbEvent>> {
    if (upToDamage)
      return events;
    return Status::error(what);
  };
  for (size_t at = 0; at < file.size();) {
    std::string where = path + ": record " + std::to_string(events.size()) + " at byte " +
                        std::to_string(at);
    if (at + 12 > file.size())
      return damaged(where + ": truncated header");
    uint64_t length;
    std::memcpy(&length, file.data() + at, 8);
    if (u32(at + 8) != maskCrc(crc32c(file.substr(at, 8))))
      return damaged(where + ": length CRC mismatch");
    if (length > file.size() - at - 12 || at + 12 + length + 4 > file.size())
      return damaged(where + ": truncated data");
    std::string_view data = file.substr(at + 12, length);
    if (u32(at + 12 + length) != maskCrc(crc32c(data)))
      return damaged(where + ": data CRC mismatch");
    TbEvent event;
    bool parsed = parseFields(data, [&](int field, int wire, uint64_t v, std::string_view b) {
      if (field == 1 && wire == 1)
        std::memcpy(&event.wallTime, b.data(), 8);
      else if (field == 2 && wire == 0)
        event.step = int64_t(v);
      else if (field == 3 && wire == 2)
        event.fileVersion = std::string(b);
      else if (field == 5 && wire == 2)
        parseFields(b, [&](int f, int w, uint64_t, std::string_view value) {
          if (f != 1 || w != 2)
            return;
          std::pair<std::string, float> scalar;
          parseFields(value, [&](int vf, int vw, uint64_t, std::string_view x) {
            if (vf == 1 && vw == 2)
              scalar.first = std::string(x);
            else if (vf == 2 && vw == 5)
              std::memcpy(&scalar.second, x.data(), 4);
          });
          event.scalars.push_back(scalar);
        });
    });
    if (!parsed)
      return damaged(where + ": not a tensorflow.Event");
    events.push_back(std::move(event));
    at += 12 + length + 4;
  }
  return events;
}

namespace {

class TensorBoardSink : public Hook {
public:
  TensorBoardSink(std::string path, FILE *file) : path_(std::move(path)), file_(file) {}
  ~TensorBoardSink() override {
    if (file_)
      std::fclose(file_);
  }

  Status start() {
    TbEvent first;
    first.wallTime = double(std::time(nullptr));
    first.fileVersion = "brain.Event:2";
    return write(first, true);
  }

  Status onStepEnd(const StepEvent &e) override {
    TbEvent event{e.wallTime, e.step, "", {{"train/loss", float(e.loss)}, {"train/lr", float(e.lr)}}};
    auto add = [&](const char *name, const std::optional<double> &x) {
      if (x)
        event.scalars.emplace_back(name, float(*x));
    };
    add("train/grad_norm", e.gradNorm);
    add("train/loss_scale", e.lossScale);
    add("train/skipped_steps", e.skippedSteps);
    add("train/samples_per_s", e.samplesPerSecond);
    add("train/step_time_s", e.stepSeconds);
    if (e.residentBytes > 0)
      add("train/rss_mib", double(e.residentBytes) / (1 << 20));
    return write(event, false);
  }

  Status onEvalEnd(const EvalEvent &e) override {
    TbEvent event{e.wallTime, e.step, "", {{e.split + "/loss", float(e.loss)}}};
    if (e.accuracy)
      event.scalars.emplace_back(e.split + "/accuracy", float(*e.accuracy));
    if (e.metrics)
      event.scalars.emplace_back(e.split + "/macro_f1", float(e.metrics->macroF1));
    return write(event, true);
  }

  Status onEpochEnd(const EpochEvent &e) override {
    TbEvent event{0, e.step, "", {{"epoch/train_loss", float(e.trainLoss)}}};
    event.wallTime = double(std::time(nullptr));
    return write(event, true);
  }

  Status onRunEnd() override {
    if (!file_)
      return Status();
    bool failed = std::fclose(file_) != 0;
    file_ = nullptr;
    return failed ? Status::error(path_ + ": cannot write: " + std::strerror(errno)) : Status();
  }

private:
  Status write(const TbEvent &event, bool flush) {
    if (!file_)
      return Status();
    std::string record = frameRecord(encodeEvent(event));
    std::fwrite(record.data(), 1, record.size(), file_);
    if ((flush && std::fflush(file_) != 0) || std::ferror(file_))
      return Status::error(path_ + ": cannot write: " + std::strerror(errno));
    return Status();
  }

  std::string path_;
  FILE *file_;
};

} // namespace

namespace {

/// Removes from every event file under `runDir` the events written after `resumeStep`.
Status pruneAfter(const std::filesystem::path &runDir, int64_t resumeStep) {
  std::error_code error;
  for (const auto &entry : std::filesystem::directory_iterator(runDir, error)) {
    std::string path = entry.path().string();
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) != 0)
      continue;
    nnc::StatusOr<std::vector<TbEvent>> events = readEventFile(path, /*upToDamage=*/true);
    if (!events.ok())
      return events.status();
    std::string kept;
    for (const TbEvent &event : *events) {
      bool finalTest = std::any_of(event.scalars.begin(), event.scalars.end(),
                                   [](const auto &s) { return s.first.rfind("test/", 0) == 0; });
      if (!event.fileVersion.empty() || keptOnResume(event.step, finalTest, resumeStep))
        kept += frameRecord(encodeEvent(event));
    }
    if (Status s = writeFile(path, kept); !s.ok())
      return s;
  }
  if (error)
    return Status::error(runDir.string() + ": cannot list: " + error.message());
  return Status();
}

} // namespace

nnc::StatusOr<std::unique_ptr<Hook>> openTensorBoard(const std::string &tensorboardDir,
                                                     const std::string &run,
                                                     int64_t resumeStep) {
  std::string dir = (std::filesystem::path(tensorboardDir) / run).string();
  std::error_code error;
  bool continuing = resumeStep >= 0 && std::filesystem::is_directory(dir, error);
  std::filesystem::create_directories(dir, error);
  if (error)
    return Status::error(dir + ": cannot create directory: " + error.message());
  if (continuing)
    if (Status s = pruneAfter(dir, resumeStep); !s.ok())
      return s;
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  std::string path = (std::filesystem::path(dir) / ("events.out.tfevents." +
                                                    std::to_string(std::time(nullptr)) + "." +
                                                    host + "." + std::to_string(::getpid())))
                         .string();
  // Never over an earlier file of the run (a resume within the same second and process id).
  std::string base = path;
  for (int n = 1; std::filesystem::exists(path, error); ++n)
    path = base + "." + std::to_string(n);
  FILE *file = std::fopen(path.c_str(), "wb");
  if (!file)
    return Status::error(path + ": cannot write: " + std::strerror(errno));
  auto sink = std::make_unique<TensorBoardSink>(path, file);
  if (Status s = sink->start(); !s.ok())
    return s;
  return std::unique_ptr<Hook>(std::move(sink));
}

} // namespace nnrt::monitor
