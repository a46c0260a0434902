// Where a non-finite value started. The compiler guards the update (the output "update_skipped"
// is 1 when the loss or a gradient was not finite, and every parameter kept its value) and adds
// "find_nonfinite", the same forward and backward pass with one finiteness flag per checked
// value in program order. After a skipped update the loops run it on the step's own inputs; the
// first non-finite flag names the user's node and whether the forward or backward pass made it.
//
//   auto probe = findNonfiniteProbe(plan);              // once
//   auto origin = locateNonfinite(exec, *probe, feed);  // after a skipped update
//   "non-finite value at step 7: first in " + origin->describe()
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "support/StatusOr.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nnrt {

class Communicator;
class Executor;

struct NonfiniteProbe {
  std::vector<nnc::TensorSlice> inputs;  // find_nonfinite's, fed by name
  nnc::TensorSlice checks;               // "nonfinite_checks", f32 (N)
  std::vector<nnc::CheckedNode> nodes;   // what each element checked
};

struct NonfiniteOrigin {
  std::string node, pass;  // pass: "forward", "backward", "parameter" or "input"
  int64_t index = 0;       // its flag's position: earlier in the step means smaller
  /// "node 'bad_sqrt' (forward)", "parameter 'fc1.weight'", "input 'x'".
  std::string describe() const;
};

/// The update's "update_skipped" output (train_step's, or apply_step's with accumulation), if
/// the plan guards its updates.
std::optional<nnc::TensorSlice> findUpdateGuard(const nnc::Plan &plan);

/// The plan's find_nonfinite, if it has one that fits its checked_nodes.
std::optional<NonfiniteProbe> findNonfiniteProbe(const nnc::Plan &plan);

/// Whether the guard at `guard` says the update just run was skipped.
nnc::StatusOr<bool> updateWasSkipped(const Executor &executor, const nnc::TensorSlice &guard);

/// The value find_nonfinite gives one of its inputs (features, labels, nnc.step, nnc.rng_key);
/// null when the caller has none, which is an error naming the input.
using ProbeInputs = std::function<const HostTensor *(const std::string &name)>;

/// Runs find_nonfinite on `inputs` and returns the first non-finite value's origin, or nothing
/// when every checked value was finite (the non-finite value was made by the update itself).
nnc::StatusOr<std::optional<NonfiniteOrigin>>
locateNonfinite(Executor &executor, const NonfiniteProbe &probe, const ProbeInputs &inputs);

/// Where a rank found the first non-finite value: at its micro-batch `step`.
struct RankedOrigin {
  NonfiniteOrigin origin;
  int64_t step = 0;
  int rank = 0;
};

/// Data parallelism: each rank looked at its own part of the batch (`local`, none if every value
/// was finite there); every rank learns the earliest over all ranks (by step, then flag, then
/// rank). Without a group of more than one rank, `local` itself.
nnc::StatusOr<std::optional<RankedOrigin>> earliestOverRanks(Communicator *group,
                                                             const NonfiniteProbe &probe,
                                                             std::optional<RankedOrigin> local);

} // namespace nnrt
