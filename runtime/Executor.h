// Executor: runs a plan's functions on a Device. It is shared by every driver and separates the
// phases XLA's thunks do: prepare once (arena, kernel library, library-call setup, every command's
// device pointers computed), then run any number of times (walk the command list, no lookups).
//
//   auto exec = Executor::prepare(std::move(plan), device);   // device outlives exec
//   exec->run("init");
//   exec->setInput("predict", "x", batch);
//   exec->run("predict");
//   auto logits = exec->getOutput("predict", "logits");
#pragma once

#include "proto/plan.pb.h"
#include "runtime/HostTensor.h"
#include "runtime/device/Device.h"
#include "support/StatusOr.h"

#include <memory>
#include <string_view>
#include <vector>

namespace nnrt {

class Communicator;
struct ShardSpec;

class Executor {
public:
  /// Validates `plan` (validatePlan; CPU features are the loader's business) and prepares it on
  /// `device`: allocates exactly plan.arena_bytes, loads the kernel library and resolves every
  /// KernelCall symbol once, and prepares every Gemm/Conv2d once.
  static nnc::StatusOr<std::unique_ptr<Executor>> prepare(nnc::Plan plan, Device &device);
  ~Executor();
  Executor(const Executor &) = delete;
  Executor &operator=(const Executor &) = delete;

  const nnc::Plan &plan() const { return plan_; }
  Device &device() const { return device_; }
  /// The bytes this executor allocated for the arena (equal to plan().arena_bytes()).
  int64_t arenaBytes() const { return arenaBytes_; }
  /// The arena's device address; slice s lives at arenaBase() + s.offset.
  void *arenaBase() const { return arena_; }
  /// The function named `name`, or null.
  const nnc::Function *function(std::string_view name) const;

  /// Runs the function's commands in order and waits for the device. Errors name the node:
  /// "function 'predict', node 'fc1': ...".
  nnc::Status run(std::string_view function);

  /// Copies `value` into an input of a function; a dtype or shape mismatch is refused with
  /// "expected shape [128,784] f32, got [10,784] f32".
  nnc::Status setInput(std::string_view function, std::string_view input, const HostTensor &value);
  /// Copies an output of a function out of the arena.
  nnc::StatusOr<HostTensor> getOutput(std::string_view function, std::string_view output) const;
  /// Copies a parameter (plan.parameters) out of the arena.
  nnc::StatusOr<HostTensor> getParameter(std::string_view name) const;

  /// The general forms of the three above, for any tensor at a slice of this plan's arena.
  /// A parameter split by tensor parallelism is read and written whole: write keeps this rank's
  /// part; read gathers the parts from every rank (a collective: every rank reads it, in the
  /// same order).
  nnc::Status write(const nnc::TensorSlice &tensor, const HostTensor &value);
  nnc::StatusOr<HostTensor> read(const nnc::TensorSlice &tensor) const;

  /// Data parallelism: the ranks the plan's all-reduces average over (not owned; it outlives
  /// the executor). Without one a process is a group of one: an all-reduce copies its sources.
  void setCommunicator(Communicator *communicator) { communicator_ = communicator; }
  /// Pipeline parallelism: the stages of this rank's pipeline, over which the plan's sums add
  /// (a stage's squared gradient norm, its count of non-finite gradients). Without one the sums
  /// run on the communicator.
  void setPipelineGroup(Communicator *group) { pipelineGroup_ = group; }
  /// Tensor parallelism: the T ranks holding the parts of this rank's split layers, over which
  /// the plan's tensor all-reduces sum and split parameters are gathered. Without one they run
  /// on the communicator (a plan split over every rank of the job).
  void setTensorGroup(Communicator *group) { tensorGroup_ = group; }
  Communicator *tensorGroup() const { return tensorGroup_ ? tensorGroup_ : communicator_; }
  /// Which part of the split layers this rank holds, 0 .. T-1 (0 without tensor parallelism).
  int tensorPart() const;
  /// The data-parallel ranks (setCommunicator's), or null.
  Communicator *communicator() const { return communicator_; }
  /// Whether any function of the plan communicates.
  bool hasCollectives() const;

  /// ZeRO-1 (issue 20): parameter-table entries as checkpoints and dumps hold them. An entry
  /// with zero_logical holds this rank's shard of optimizer state: logicalOf gives its whole
  /// type, readParameter all-gathers it (a collective: every rank reads the same entries in the
  /// same order), writeParameter takes this rank's shard of a whole value. Other entries read
  /// and write as read() and write().
  static nnc::TensorSlice logicalOf(const nnc::TensorSlice &parameter);
  nnc::StatusOr<HostTensor> readParameter(const nnc::TensorSlice &parameter) const;
  nnc::Status writeParameter(const nnc::TensorSlice &parameter, const HostTensor &value);
  /// Whether reading the parameters is a collective (some entry is a shard).
  bool hasShardedParameters() const;

  /// Profiling (nnrun --profile): from now on every run times each command, synchronizing the
  /// device after it so that the time is the command's own.
  void enableProfiling() { profiling_ = true; }
  /// Issue 23: from now on each function that runs repeatedly chooses, before each run, between
  /// the pool's threads and one thread, whichever its measured runs say is faster (see
  /// ThreadGovernor.h): on a shared machine one thread can beat two. oneDNN fixes a primitive's
  /// blocking when it is created and the cpu driver runs splittable kernels as shares on one
  /// thread too, so results did not change in any plan checked (adaptive_threads.test).
  void enableAdaptiveThreads();
  struct CommandTime {
    std::string function; // "train_step"
    std::string command;  // "kernel nnc_k3_fc1 (node 'fc1')", "gemm 128x256x784 (node 'fc1')"
    double seconds = 0;   // over all calls
    int64_t calls = 0;
    int64_t flops = 0;    // per call: library calls (gemm, conv2d) only, else 0
    const nnc::Command *source = nullptr; // the plan's command
    double bestSeconds = 0; // the fastest call (steadier than the mean on a shared machine)
    /// Issue 23: the fastest of the same library call's runs alone (timeLibraryCallsAlone):
    /// back to back (hot caches, the pool's threads awake), after a pass over 64 MiB on every
    /// thread (cold caches), after an idle pause (the pool's threads parked), back to back on
    /// one thread. 0: not measured.
    double aloneHot = 0, aloneCold = 0, aloneParked = 0, aloneOne = 0;
  };
  /// Every command that ran while profiling.
  std::vector<CommandTime> commandTimes() const;

  /// Issue 23: runs each library call (Gemm, Conv2d) of `function` alone, on copies of its
  /// operands (the arena is left as it was), in each condition of CommandTime: the same
  /// prepared oneDNN primitive, threads and operand layouts as in the step, so that the gap
  /// between a GEMM's in-step and standalone rates can be put down to caches or thread
  /// wake-ups. Each condition runs as often as the call ran in the step (at least 3, at most
  /// `maxRepetitions` times) and keeps its fastest run, like bestSeconds: the same number of
  /// draws from a shared machine's noise, which only ever adds time.
  nnc::Status timeLibraryCallsAlone(std::string_view function, int maxRepetitions);

private:
  struct PreparedCommand;
  struct PreparedFunction;

  Executor(nnc::Plan plan, Device &device);
  nnc::Status prepareAll();
  nnc::Status execute(const PreparedCommand &command);
  nnc::Status prepareAttention(PreparedCommand &command); // issue 23
  nnc::Status timeAlone(PreparedCommand &command, int repetitions, std::vector<char> &evict);
  nnc::Status startAllReduce(const PreparedCommand &command);
  nnc::Status waitAllReduce(const PreparedCommand &command);
  nnc::Status sumNow(const PreparedCommand &start);
  nnc::Status tensorAllReduce(const PreparedCommand &command);
  nnc::StatusOr<int> tensorRank(const ShardSpec &spec) const;
  nnc::Status writeTensorRank(const nnc::TensorRank &command);
  nnc::Status writePart(const nnc::WriteBytes &write, const ShardSpec &spec);
  nnc::StatusOr<HostTensor> gather(const nnc::TensorSlice &tensor) const;
  nnc::StatusOr<HostTensor> assembleParts(const std::string &name, const ShardSpec &spec,
                                          const Shape &whole, const char *part) const;
  nnc::Status unpack(const PreparedCommand &start);
  // ZeRO-1 (issue 20): ReduceScatter, AllGather and TakeShard; the ranks they shard over.
  nnc::Status runShardCommand(const PreparedCommand &command);
  nnc::StatusOr<int64_t> shardElements(int64_t elements, int64_t shardBytes) const;
  int ranks() const;
  int rank() const;
  void *at(const nnc::Slice &slice) const { return static_cast<char *>(arena_) + slice.offset(); }
  nnc::StatusOr<const nnc::TensorSlice *> findTensor(std::string_view function,
                                                     std::string_view name, bool input) const;

  nnc::Plan plan_;
  Device &device_;
  bool profiling_ = false;
  bool adaptiveThreads_ = false;
  void *arena_ = nullptr;
  int64_t arenaBytes_ = 0;
  std::unique_ptr<KernelLibrary> kernels_;
  std::vector<PreparedFunction> functions_;
  Communicator *communicator_ = nullptr;
  Communicator *pipelineGroup_ = nullptr;
  Communicator *tensorGroup_ = nullptr;
  /// Host staging of the tensor-parallel all-reduces: they block, so one buffer of the largest
  /// serves them all (a buffer per command held each activation's size again, 49 of them).
  std::vector<float> tensorStaging_;
  /// Who reduces `reduce`: the pipeline group for a sum when there is one, else the communicator.
  Communicator *reducerOf(const nnc::AllReduceStart &reduce) const;
};

} // namespace nnrt
