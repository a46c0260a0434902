// find_nonfinite as the runtime sees it: bind it by its output's name and check that the plan
// names every flag, feed it by input name, read the flags back and take the first NaN.
#include "runtime/monitor/NonfiniteOrigin.h"

#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/collective/Communicator.h"

#include <cmath>

namespace nnrt {

namespace {

bool isOneF32(const nnc::TensorSlice &t) {
  return t.type().dtype() == nnc::F32 && numElements(shapeOf(t.type())) == 1;
}

} // namespace

std::string NonfiniteOrigin::describe() const {
  if (pass == "parameter" || pass == "input")
    return pass + " '" + node + "'";
  return "node '" + node + "' (" + pass + ")";
}

std::optional<nnc::TensorSlice> findUpdateGuard(const nnc::Plan &plan) {
  const nnc::Function *update = findFunction(plan, "train_step");
  if (!update)
    update = findFunction(plan, "apply_step");
  if (update)
    for (const nnc::TensorSlice &output : update->outputs())
      if (output.name() == "update_skipped" && isOneF32(output))
        return output;
  return std::nullopt;
}

std::optional<NonfiniteProbe> findNonfiniteProbe(const nnc::Plan &plan) {
  const nnc::Function *find = findFunction(plan, "find_nonfinite");
  if (!find || find->outputs_size() != 1)
    return std::nullopt;
  const nnc::TensorSlice &checks = find->outputs(0);
  if (checks.name() != "nonfinite_checks" || checks.type().dtype() != nnc::F32 ||
      numElements(shapeOf(checks.type())) != find->checked_nodes_size())
    return std::nullopt;
  NonfiniteProbe probe;
  probe.inputs.assign(find->inputs().begin(), find->inputs().end());
  probe.checks = checks;
  probe.nodes.assign(find->checked_nodes().begin(), find->checked_nodes().end());
  return probe;
}

nnc::StatusOr<bool> updateWasSkipped(const Executor &executor, const nnc::TensorSlice &guard) {
  nnc::StatusOr<HostTensor> flag = executor.read(guard);
  if (!flag.ok())
    return flag.status();
  return flag->toFloats()[0] != 0.0f;
}

nnc::StatusOr<std::optional<NonfiniteOrigin>>
locateNonfinite(Executor &executor, const NonfiniteProbe &probe, const ProbeInputs &inputs) {
  for (const nnc::TensorSlice &input : probe.inputs) {
    const HostTensor *value = inputs(input.name());
    if (!value)
      return nnc::Status::error("function 'find_nonfinite': no value for input '" +
                                input.name() + "'");
    if (nnc::Status s = executor.write(input, *value); !s.ok())
      return nnc::Status::error("function 'find_nonfinite', input '" + input.name() + "': " +
                                s.message());
  }
  if (nnc::Status s = executor.run("find_nonfinite"); !s.ok())
    return s;
  nnc::StatusOr<HostTensor> checks = executor.read(probe.checks);
  if (!checks.ok())
    return checks.status();
  std::vector<float> flags = checks->toFloats();
  for (size_t i = 0; i < flags.size() && i < probe.nodes.size(); ++i)
    if (!std::isfinite(flags[i]))
      return std::optional<NonfiniteOrigin>(
          NonfiniteOrigin{probe.nodes[i].node(), probe.nodes[i].pass(), int64_t(i)});
  return std::optional<NonfiniteOrigin>();
}

nnc::StatusOr<std::optional<RankedOrigin>> earliestOverRanks(Communicator *group,
                                                             const NonfiniteProbe &probe,
                                                             std::optional<RankedOrigin> local) {
  if (!group || group->size() < 2)
    return local;
  // Each rank fills its own (step, flag + 1) pair; the sum is every rank's pair.
  int ranks = group->size();
  std::vector<double> found(2 * size_t(ranks), 0.0);
  if (local) {
    found[2 * size_t(group->rank())] = double(local->step);
    found[2 * size_t(group->rank()) + 1] = double(local->origin.index + 1);
  }
  if (nnc::Status s = group->allReduceSum("where a non-finite value started", found.data(),
                                          int(found.size()));
      !s.ok())
    return s;
  std::optional<RankedOrigin> earliest;
  for (int r = 0; r < ranks; ++r) {
    auto step = int64_t(found[2 * r]), flag = int64_t(found[2 * r + 1]);
    if (flag < 1 || flag > int64_t(probe.nodes.size()))
      continue;
    if (earliest && std::pair(earliest->step, earliest->origin.index) <= std::pair(step, flag - 1))
      continue;
    const nnc::CheckedNode &node = probe.nodes[flag - 1];
    earliest = RankedOrigin{NonfiniteOrigin{node.node(), node.pass(), flag - 1}, step, r};
  }
  return earliest;
}

} // namespace nnrt
