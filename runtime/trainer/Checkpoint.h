// Training checkpoints: everything a run needs to continue bit-identically — parameters and
// optimizer state (the plan's parameter table), the best weights so far (early stopping), the
// step, epoch and position within the epoch, the seed (which fixes the data order and dropout),
// the schedule's plateau state — plus the plan's model_sha256, so resuming with another model file
// is noted. Files are written atomically and verified on load.
//
// Layout: the magic "NNCCKPT1", then records, then the FNV-1a 64 of all bytes before it:
//   record = u32 name length, name, u64 payload length, payload, u64 FNV-1a 64 of the payload
// The first record, "state", is text ("key value" lines, doubles as hex floats so they round-trip
// exactly); each other record is one tensor: u32 dtype, u32 rank, i64 dims, then its bytes. The
// per-record checksums let a damaged file be reported by the tensor or field it hit.
#pragma once

#include "runtime/HostTensor.h"
#include "runtime/trainer/LrSchedule.h"
#include "support/StatusOr.h"

#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace nnrt {
class Executor;
}

namespace nnrt::trainer {

/// Where the run is; a checkpoint is taken between steps, after any end-of-epoch work.
struct TrainerState {
  uint64_t seed = 0;
  int64_t step = 0;          // steps done
  int64_t epoch = 0;         // the epoch the next step belongs to (0-based)
  int64_t batchInEpoch = 0;  // batches of that epoch done
  double epochLossSum = 0;   // of those batches' losses, for the epoch's mean
  PlateauState plateau;
  double bestLoss = std::numeric_limits<double>::infinity();  // early stopping's best
  int64_t bestEpoch = -1;    // 1-based epoch of the best weights; -1: none yet
  int64_t badEvals = 0;      // evals since the best one
  bool finished = false;     // the run ended (all epochs, or stopped early)
  std::string runName;       // the TensorBoard run's directory, continued by a resume
  // What the position means, so a resume with other data or another batch is caught (empty or
  // 0 in checkpoints written before these were kept): the examples of one step over all ranks,
  // the training split's size and digest (Dataset::digest), and the learning-rate schedule
  // (describeSchedule, without the run's length: more epochs may be asked for).
  int64_t globalBatch = 0;
  int64_t trainExamples = 0;
  int64_t epochsPlanned = 0;  // the run's --epochs: a finished run resumed with more continues
  std::string dataDigest;
  std::string schedule;
};

struct Checkpoint {
  std::string modelSha256;
  TrainerState state;
  std::vector<std::pair<std::string, HostTensor>> tensors;  // "best/<name>": the best weights
};

std::string serializeCheckpoint(const Checkpoint &checkpoint);
/// Errors start with `path` and name what is wrong: "last.ckpt: tensor 'fc1.weight' is corrupt
/// (checksum mismatch)", "last.ckpt: truncated in tensor 'fc2.bias'", "last.ckpt: field 'step'
/// is missing".
nnc::StatusOr<Checkpoint> parseCheckpoint(std::string_view bytes, const std::string &path);

/// Writes `path` atomically: a temporary file in the same directory, fsync, rename over `path`,
/// fsync the directory. A crash at any point leaves the old file or the new one, never a mix.
nnc::Status writeCheckpoint(const std::string &path, const Checkpoint &checkpoint);
nnc::StatusOr<Checkpoint> readCheckpoint(const std::string &path);

/// The executor's parameter table (weights and optimizer state) as checkpoint tensors: whole
/// tensors, ZeRO-1's optimizer-state shards all-gathered (then every rank must call it).
nnc::StatusOr<std::vector<std::pair<std::string, HostTensor>>>
captureParameters(const Executor &executor, const std::string &prefix = "");
/// Ok if `checkpoint` fits this plan: every parameter present with its type. The tensors are
/// logical (unsharded), so a checkpoint fits the same model compiled for another batch size or
/// data-parallel degree (whose model file, and model_sha256, differ). Errors name `path` and
/// the tensor.
nnc::Status checkCheckpointFits(const Checkpoint &checkpoint, const nnc::Plan &plan,
                                const std::string &path);
/// Writes the tensors named `prefix` + parameter name into the executor's parameters.
nnc::Status restoreParameters(Executor &executor, const Checkpoint &checkpoint,
                              const std::string &prefix = "");

} // namespace nnrt::trainer
