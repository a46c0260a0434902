// Checkpoint serialization, verification and the atomic write (see Checkpoint.h for the layout).
#include "runtime/trainer/Checkpoint.h"

#include "runtime/Executor.h"
#include "runtime/FileIO.h"
#include "support/Checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

namespace nnrt::trainer {

using nnc::Status;

namespace {

constexpr std::string_view kMagic = "NNCCKPT1";
constexpr const char *kStateRecord = "state";

template <typename T> void put(std::string &out, T value) {
  out.append(reinterpret_cast<const char *>(&value), sizeof value);
}

void putRecord(std::string &out, const std::string &name, const std::string &payload) {
  put<uint32_t>(out, uint32_t(name.size()));
  out += name;
  put<uint64_t>(out, payload.size());
  out += payload;
  put<uint64_t>(out, nnc::fnv1a64(payload));
}

std::string hexFloat(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%a", value);
  return text;
}

std::string stateText(const Checkpoint &c) {
  const TrainerState &s = c.state;
  std::ostringstream out;
  out << "model_sha256 " << (c.modelSha256.empty() ? "-" : c.modelSha256) << "\n"
      << "seed " << s.seed << "\nstep " << s.step << "\nepoch " << s.epoch << "\n"
      << "batch_in_epoch " << s.batchInEpoch << "\nepoch_loss_sum " << hexFloat(s.epochLossSum)
      << "\nplateau_scale " << hexFloat(s.plateau.scale) << "\nplateau_best_loss "
      << hexFloat(s.plateau.bestLoss) << "\nplateau_bad_evals " << s.plateau.badEvals
      << "\nbest_loss " << hexFloat(s.bestLoss) << "\nbest_epoch " << s.bestEpoch
      << "\nbad_evals " << s.badEvals << "\nfinished " << int(s.finished) << "\n";
  return out.str();
}

Status parseState(const std::string &text, const std::string &path, Checkpoint &c) {
  std::map<std::string, std::string> fields;
  std::istringstream lines(text);
  std::string key, value;
  while (lines >> key >> value)
    fields[key] = value;
  auto field = [&](const char *name, auto &into) -> Status {
    auto it = fields.find(name);
    if (it == fields.end())
      return Status::error(path + ": field '" + name + "' is missing");
    std::istringstream in(it->second);
    using T = std::decay_t<decltype(into)>;
    if constexpr (std::is_same_v<T, double>) {
      char *end = nullptr;
      into = std::strtod(it->second.c_str(), &end);
      if (*end == '\0')
        return Status();
    } else if constexpr (std::is_same_v<T, std::string>) {
      into = it->second;
      return Status();
    } else if (in >> into && in.eof()) {
      return Status();
    }
    return Status::error(path + ": field '" + name + "' has a bad value '" + it->second + "'");
  };
  TrainerState &s = c.state;
  int64_t finished = 0;
  for (Status status :
       {field("model_sha256", c.modelSha256), field("seed", s.seed), field("step", s.step),
        field("epoch", s.epoch), field("batch_in_epoch", s.batchInEpoch),
        field("epoch_loss_sum", s.epochLossSum), field("plateau_scale", s.plateau.scale),
        field("plateau_best_loss", s.plateau.bestLoss),
        field("plateau_bad_evals", s.plateau.badEvals), field("best_loss", s.bestLoss),
        field("best_epoch", s.bestEpoch), field("bad_evals", s.badEvals),
        field("finished", finished)})
    if (!status.ok())
      return status;
  if (c.modelSha256 == "-")
    c.modelSha256.clear();
  s.finished = finished != 0;
  if (s.step < 0 || s.epoch < 0 || s.batchInEpoch < 0)
    return Status::error(path + ": field 'step', 'epoch' or 'batch_in_epoch' is negative");
  return Status();
}

/// Reads the records of `bytes` in order, with bounds checks naming the record being read.
class Reader {
public:
  Reader(std::string_view bytes, const std::string &path) : bytes_(bytes), path_(path) {}
  bool atEnd() const { return at_ == bytes_.size(); }
  size_t offset() const { return at_; }

  Status take(size_t n, const std::string &what, std::string_view &into) {
    if (bytes_.size() - at_ < n)
      return Status::error(path_ + ": truncated in " + what);
    into = bytes_.substr(at_, n);
    at_ += n;
    return Status();
  }
  template <typename T> Status get(const std::string &what, T &into) {
    std::string_view raw;
    if (Status s = take(sizeof(T), what, raw); !s.ok())
      return s;
    std::memcpy(&into, raw.data(), sizeof(T));
    return Status();
  }

private:
  std::string_view bytes_;
  size_t at_ = 0;
  const std::string &path_;
};

std::string recordWhat(const std::string &name) {
  return name == kStateRecord ? "the state record" : "tensor '" + name + "'";
}

Status parseTensor(std::string_view payload, const std::string &name, const std::string &path,
                   HostTensor &tensor) {
  Reader in(payload, path);
  std::string what = "tensor '" + name + "'";
  uint32_t dtype = 0, rank = 0;
  if (Status s = in.get(what, dtype); !s.ok())
    return s;
  if (Status s = in.get(what, rank); !s.ok())
    return s;
  if (rank > 16)
    return Status::error(path + ": tensor '" + name + "' has rank " + std::to_string(rank));
  Shape shape(rank);
  for (int64_t &d : shape)
    if (Status s = in.get(what, d); !s.ok())
      return s;
  int64_t bytes = byteSize(nnc::DType(dtype), shape);
  if (bytes < 0 || !nnc::DType_IsValid(int(dtype)))
    return Status::error(path + ": tensor '" + name + "' has a bad type");
  std::string_view data;
  if (Status s = in.take(size_t(bytes), what, data); !s.ok())
    return s;
  if (!in.atEnd())
    return Status::error(path + ": tensor '" + name + "' has trailing bytes");
  tensor = HostTensor(nnc::DType(dtype), shape);
  std::memcpy(tensor.data.data(), data.data(), data.size());
  return Status();
}

Status errnoError(const std::string &path, const char *doing) {
  return Status::error(path + ": cannot " + doing + ": " + std::strerror(errno));
}

} // namespace

std::string serializeCheckpoint(const Checkpoint &checkpoint) {
  std::string out(kMagic);
  putRecord(out, kStateRecord, stateText(checkpoint));
  for (const auto &[name, tensor] : checkpoint.tensors) {
    std::string payload;
    put<uint32_t>(payload, uint32_t(tensor.dtype));
    put<uint32_t>(payload, uint32_t(tensor.shape.size()));
    for (int64_t d : tensor.shape)
      put<int64_t>(payload, d);
    payload.append(reinterpret_cast<const char *>(tensor.data.data()), tensor.data.size());
    putRecord(out, name, payload);
  }
  put<uint64_t>(out, nnc::fnv1a64(out));
  return out;
}

nnc::StatusOr<Checkpoint> parseCheckpoint(std::string_view bytes, const std::string &path) {
  if (bytes.substr(0, kMagic.size()) != kMagic)
    return Status::error(path + ": not an nnrun checkpoint (bad magic)");
  Reader in(bytes, path);
  std::string_view skip;
  (void)in.take(kMagic.size(), "", skip);
  Checkpoint checkpoint;
  bool first = true;
  // Records until only the file checksum is left.
  while (bytes.size() - in.offset() > sizeof(uint64_t)) {
    uint32_t nameLength = 0;
    uint64_t payloadLength = 0, sum = 0;
    std::string_view name, payload;
    if (Status s = in.get("a record header", nameLength); !s.ok())
      return s;
    if (Status s = in.take(nameLength, "a record name", name); !s.ok())
      return s;
    std::string recordName(name);
    std::string what = recordWhat(recordName);
    if (Status s = in.get(what, payloadLength); !s.ok())
      return s;
    if (Status s = in.take(payloadLength, what, payload); !s.ok())
      return s;
    if (Status s = in.get(what, sum); !s.ok())
      return s;
    if (sum != nnc::fnv1a64(std::string(payload)))
      return Status::error(path + ": " + what + " is corrupt (checksum mismatch)");
    if (first != (recordName == kStateRecord))
      return Status::error(path + ": the state record must come first, got " + what);
    if (first) {
      if (Status s = parseState(std::string(payload), path, checkpoint); !s.ok())
        return s;
    } else {
      HostTensor tensor;
      if (Status s = parseTensor(payload, recordName, path, tensor); !s.ok())
        return s;
      checkpoint.tensors.emplace_back(recordName, std::move(tensor));
    }
    first = false;
  }
  uint64_t sum = 0;
  size_t end = in.offset();
  if (Status s = in.get("the file checksum", sum); !s.ok())
    return s;
  if (first)
    return Status::error(path + ": truncated before the state record");
  if (sum != nnc::fnv1a64(std::string(bytes.substr(0, end))))
    return Status::error(path + ": the file checksum does not match (records were reordered, "
                                "added or removed)");
  return checkpoint;
}

Status writeCheckpoint(const std::string &path, const Checkpoint &checkpoint) {
  std::string bytes = serializeCheckpoint(checkpoint);
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string temp = (dir / ("." + target.filename().string() + ".tmp")).string();
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errnoError(temp, "create");
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      Status error = errnoError(temp, "write");
      ::close(fd);
      return error;
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    Status error = errnoError(temp, "fsync");
    ::close(fd);
    return error;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0)
    return errnoError(path, "rename the new checkpoint into place");
  // The rename itself lives in the directory: sync it, or a crash may forget the new name.
  int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0)
    return errnoError(dir.string(), "open directory");
  int synced = ::fsync(dirFd);
  ::close(dirFd);
  if (synced != 0)
    return errnoError(dir.string(), "fsync directory");
  return Status();
}

nnc::StatusOr<Checkpoint> readCheckpoint(const std::string &path) {
  nnc::StatusOr<std::string> bytes = readFile(path);
  if (!bytes.ok())
    return bytes.status();
  return parseCheckpoint(*bytes, path);
}

nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
captureParameters(const Executor &executor, const std::string &prefix) {
  std::vector<std::pair<std::string, HostTensor>> tensors;
  for (const nnc::TensorSlice &parameter : executor.plan().parameters()) {
    nnc::StatusOr<HostTensor> value = executor.read(parameter);
    if (!value.ok())
      return Status::error("parameter '" + parameter.name() + "': " + value.status().message());
    tensors.emplace_back(prefix + parameter.name(), std::move(*value));
  }
  return tensors;
}

Status checkCheckpointFits(const Checkpoint &checkpoint, const nnc::Plan &plan,
                           const std::string &path) {
  std::map<std::string, const HostTensor *> byName;
  for (const auto &[name, tensor] : checkpoint.tensors)
    byName[name] = &tensor;
  for (const std::string prefix : {"", "best/"}) {
    if (!prefix.empty() && checkpoint.state.bestEpoch < 0)
      continue;
    for (const nnc::TensorSlice &parameter : plan.parameters()) {
      auto it = byName.find(prefix + parameter.name());
      if (it == byName.end())
        return Status::error(path + ": tensor '" + prefix + parameter.name() + "' is missing");
      if (Status s = checkType(*it->second, parameter.type()); !s.ok())
        return Status::error(path + ": tensor '" + prefix + parameter.name() + "': " +
                             s.message());
    }
  }
  return Status();
}

Status restoreParameters(Executor &executor, const Checkpoint &checkpoint,
                         const std::string &prefix) {
  for (const nnc::TensorSlice &parameter : executor.plan().parameters())
    for (const auto &[name, tensor] : checkpoint.tensors)
      if (name == prefix + parameter.name())
        if (Status s = executor.write(parameter, tensor); !s.ok())
          return Status::error("tensor '" + name + "': " + s.message());
  return Status();
}

} // namespace nnrt::trainer
