// The executor. Prepare, in order:
//   1. validate the plan (slices inside the arena, sizes consistent) — the devices trust it;
//   2. allocate the arena;
//   3. load the kernel library with every distinct KernelCall symbol, in first-use order;
//   4. for each command, compute its device pointers and prepare its library call.
// Run then walks the prepared commands. Parameter initialization computes on the host and copies
// the values in, so every driver gets bit-identical initial weights.
#include "runtime/Executor.h"

#include "runtime/Initializers.h"
#include "runtime/PlanLoader.h"
#include "runtime/Shards.h"
#include "runtime/ThreadGovernor.h"
#include "runtime/collective/Communicator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include <omp.h>

namespace nnrt {

using nnc::Status;

struct Executor::PreparedCommand {
  const nnc::Command *command = nullptr;
  std::string where;           // "node 'fc1'", for errors
  void *kernel = nullptr;      // KernelCall: the device's handle
  std::vector<void *> args;    // KernelCall: device pointers
  LibraryOperands operands{};  // Gemm / Conv2d
  std::unique_ptr<LibraryCall> call;
  AttentionOperands attentionOperands{}; // CausalAttention
  std::unique_ptr<AttentionCall> attention;
  // AllReduceStart: the bucket packed into one host buffer, reduced in place; AllReduceWait:
  // the start it completes.
  mutable std::vector<float> bucket; // the communicator's buffer while in flight
  PreparedCommand *start = nullptr;
  mutable double seconds = 0; // profiling: time over `calls` runs
  mutable int64_t calls = 0;
  mutable double best = 0; // profiling: the fastest call
  double aloneHot = 0, aloneCold = 0, aloneParked = 0, aloneOne = 0; // timeLibraryCallsAlone
};

struct Executor::PreparedFunction {
  const nnc::Function *function = nullptr;
  std::vector<PreparedCommand> commands;
  mutable std::unique_ptr<ThreadGovernor> governor; // enableAdaptiveThreads
};

Executor::Executor(nnc::Plan plan, Device &device) : plan_(std::move(plan)), device_(device) {}

Executor::~Executor() {
  // Library calls and kernels may refer to the arena's contents but never own it; release them
  // before the memory they were prepared against.
  functions_.clear();
  kernels_.reset();
  if (arena_)
    device_.free(arena_);
}

nnc::StatusOr<std::unique_ptr<Executor>> Executor::prepare(nnc::Plan plan, Device &device) {
  if (Status s = validatePlan(plan); !s.ok())
    return s;
  std::unique_ptr<Executor> executor(new Executor(std::move(plan), device));
  if (Status s = executor->prepareAll(); !s.ok())
    return s;
  return executor;
}

Status Executor::prepareAll() {
  nnc::StatusOr<void *> arena = device_.allocate(plan_.arena_bytes());
  if (!arena.ok())
    return Status::error("arena: " + arena.status().message());
  arena_ = *arena;
  arenaBytes_ = plan_.arena_bytes();

  // Every distinct symbol once, remembering who needs it for the error message.
  std::vector<std::string> symbols;
  std::map<std::string, size_t> symbolIndex;
  std::map<std::string, std::string> firstUser;
  for (const nnc::Function &function : plan_.functions())
    for (int i = 0; i < function.commands_size(); ++i) {
      const nnc::Command &command = function.commands(i);
      if (command.kind_case() != nnc::Command::kKernel)
        continue;
      const std::string &symbol = command.kernel().symbol();
      if (symbolIndex.emplace(symbol, symbols.size()).second) {
        symbols.push_back(symbol);
        firstUser[symbol] = "function '" + function.name() + "', " + describeCommand(command, i);
      }
    }
  if (!symbols.empty()) {
    nnc::StatusOr<std::unique_ptr<KernelLibrary>> library =
        device_.loadKernelLibrary(plan_.kernel_library(), symbols);
    if (!library.ok()) {
      // Name the node behind a missing symbol; other load errors concern the whole library.
      for (const std::string &symbol : symbols)
        if (library.status().message().find("'" + symbol + "'") != std::string::npos)
          return Status::error(firstUser[symbol] + ": " + library.status().message());
      return library.status();
    }
    kernels_ = std::move(*library);
  }

  // Conv commands' sharing keys are the plan's, per function; each preparation gets its own
  // range of them, so calls prepared for another Executor on the same device never share.
  static std::atomic<int64_t> preparations{0};
  for (const nnc::Function &function : plan_.functions()) {
    int64_t keyBase = (++preparations) << 32;
    PreparedFunction &prepared = functions_.emplace_back();
    prepared.function = &function;
    prepared.commands.reserve(function.commands_size()); // waits point at their starts
    for (int i = 0; i < function.commands_size(); ++i) {
      const nnc::Command &command = function.commands(i);
      PreparedCommand &p = prepared.commands.emplace_back();
      p.command = &command;
      p.where = "function '" + function.name() + "', " + describeCommand(command, i);
      nnc::StatusOr<std::unique_ptr<LibraryCall>> call = std::unique_ptr<LibraryCall>();
      if (command.has_tensor_all_reduce()) {
        size_t floats = static_cast<size_t>(command.tensor_all_reduce().source().size() / 4);
        tensorStaging_.resize(std::max(tensorStaging_.size(), floats));
      } else if (command.has_all_reduce_start()) {
        // validatePlan admits f32 buckets only; the element size still comes from the plan.
        const nnc::AllReduceStart &reduce = command.all_reduce_start();
        int64_t bytes = 0;
        for (const nnc::Slice &source : reduce.sources())
          bytes += source.size();
        p.bucket.resize(static_cast<size_t>(bytes / dtypeSize(reduce.dtype())));
      } else if (command.has_all_reduce_wait()) {
        // validatePlan checked the order: the wait of sequence s follows its start.
        for (PreparedCommand &earlier : prepared.commands)
          if (earlier.command->has_all_reduce_start() &&
              earlier.command->all_reduce_start().sequence() ==
                  command.all_reduce_wait().sequence())
            p.start = &earlier;
      } else if (command.has_kernel()) {
        p.kernel = kernels_->kernel(symbolIndex[command.kernel().symbol()]);
        for (const nnc::Slice &arg : command.kernel().args())
          p.args.push_back(at(arg));
      } else if (command.has_gemm()) {
        const nnc::Gemm &gemm = command.gemm();
        p.operands = {at(gemm.a()), at(gemm.b()), gemm.bias().size() ? at(gemm.bias()) : nullptr,
                      at(gemm.c())};
        call = device_.prepareGemm(gemmDescOf(gemm));
      } else if (command.has_conv2d()) {
        const nnc::Conv2d &conv = command.conv2d();
        p.operands = {at(conv.input()), at(conv.weight()),
                      conv.bias().size() ? at(conv.bias()) : nullptr, at(conv.output())};
        Conv2dDesc desc = conv2dDescOf(conv);
        for (int64_t *key : {&desc.inputKey, &desc.outputKey})
          if (*key != 0)
            *key += keyBase; // the plan's keys are buffer numbers, far below 2^32
        call = device_.prepareConv2d(desc);
      }
      if (!call.ok())
        return Status::error(p.where + ": " + call.status().message());
      p.call = std::move(*call);
      if (command.has_causal_attention())
        if (Status s = prepareAttention(p); !s.ok())
          return Status::error(p.where + ": " + s.message());
    }
  }
  return Status();
}

// Issue 23: the attention's operand pointers and its device call; AVX-512 (and AVX512_BF16's pair
// products) only where the plan was compiled for it (validatePlan's host check then guarantees
// the machine has it).
Status Executor::prepareAttention(PreparedCommand &p) {
  const nnc::CausalAttention &attention = p.command->causal_attention();
  for (int i = 0; i < attention.args_size(); ++i)
    p.attentionOperands[i] = at(attention.args(i));
  AttentionDesc desc = attentionDescOf(attention);
  for (const std::string &feature : plan_.metadata().cpu_features()) {
    desc.avx512 |= feature == "avx512f";
    desc.avx512bf16 |= feature == "avx512bf16";
  }
  nnc::StatusOr<std::unique_ptr<AttentionCall>> call = device_.prepareAttention(desc);
  if (!call.ok())
    return call.status();
  p.attention = std::move(*call);
  return Status();
}

const nnc::Function *Executor::function(std::string_view name) const {
  for (const nnc::Function &function : plan_.functions())
    if (function.name() == name)
      return &function;
  return nullptr;
}

Status Executor::execute(const PreparedCommand &p) {
  const nnc::Command &command = *p.command;
  switch (command.kind_case()) {
  case nnc::Command::kKernel:
    return device_.launchKernel(p.kernel, const_cast<void **>(p.args.data()), p.args.size());
  case nnc::Command::kGemm:
  case nnc::Command::kConv2D:
    return p.call->run(p.operands);
  case nnc::Command::kInitParameter: {
    const nnc::InitParameter &init = command.init_parameter();
    std::vector<float> values(static_cast<size_t>(numElements(shapeOf(init.type()))));
    if (Status s = initialize(init.init(), init.type(), plan_.seed(), init.stream(), values.data());
        !s.ok())
      return s;
    // A split parameter: the whole tensor drawn as one process would, this rank's part kept.
    if (ShardSpec spec = shardOf(init); spec.split()) {
      nnc::StatusOr<int> rank = tensorRank(spec);
      if (!rank.ok())
        return rank.status();
      std::vector<float> part(size_t(init.slice().size()) / sizeof(float));
      copyPart(shapeOf(init.type()), spec, *rank, sizeof(float),
               reinterpret_cast<char *>(values.data()), reinterpret_cast<char *>(part.data()),
               false);
      values = std::move(part);
    }
    return device_.copy(at(init.slice()), values.data(), init.slice().size());
  }
  case nnc::Command::kTensorAllReduce:
    return tensorAllReduce(p);
  case nnc::Command::kWriteBytes: {
    const nnc::WriteBytes &write = command.write_bytes();
    if (ShardSpec spec = shardOf(write); spec.split()) // stored values of a split parameter
      return writePart(write, spec);
    return device_.copy(at(write.slice()), write.data().data(), write.slice().size());
  }
  case nnc::Command::kCopy: {
    const nnc::Copy &copy = command.copy();
    return device_.copy(at(copy.dst()), at(copy.src()), copy.src().size());
  }
  case nnc::Command::kAllReduceStart:
    return startAllReduce(p);
  case nnc::Command::kAllReduceWait:
    return waitAllReduce(p);
  case nnc::Command::kCausalAttention:
    return p.attention->run(p.attentionOperands);
  case nnc::Command::kReduceScatter:
  case nnc::Command::kAllGather:
  case nnc::Command::kTakeShard:
    return runShardCommand(p);
  case nnc::Command::kTensorRank:
    return writeTensorRank(command.tensor_rank());
  case nnc::Command::KIND_NOT_SET:
    break;
  }
  return Status::error("command of unknown kind");
}

// A bucket travels packed: one collective per bucket, not per gradient. Staging it in host memory
// serves every device (a GPU plan would rather reduce in place with NCCL: not built yet).
Communicator *Executor::reducerOf(const nnc::AllReduceStart &reduce) const {
  return reduce.sum() && pipelineGroup_ ? pipelineGroup_ : communicator_;
}

Status Executor::startAllReduce(const PreparedCommand &p) {
  const nnc::AllReduceStart &reduce = p.command->all_reduce_start();
  Communicator *communicator = reducerOf(reduce);
  if (!communicator || communicator->size() == 1) { // the mean over one rank
    for (int i = 0; i < reduce.sources_size(); ++i)
      if (Status s = device_.copy(at(reduce.results(i)), at(reduce.sources(i)),
                                  reduce.sources(i).size());
          !s.ok())
        return s;
    return Status();
  }
  auto *packed = reinterpret_cast<char *>(p.bucket.data());
  for (const nnc::Slice &source : reduce.sources()) {
    if (Status s = device_.copy(packed, at(source), source.size()); !s.ok())
      return s;
    packed += source.size();
  }
  if (Status s = device_.synchronize(); !s.ok()) // the bucket is in host memory now
    return s;
  if (reduce.sum()) // a few values (a pipeline's squared norm): summed at once, in double
    return sumNow(p);
  return communicator->startAllReduceMean(p.where, p.bucket.data(),
                                           static_cast<int64_t>(p.bucket.size()));
}

// Tensor parallelism: a blocking sum of floats over the group, staged in host memory.
Status Executor::tensorAllReduce(const PreparedCommand &p) {
  const nnc::TensorAllReduce &reduce = p.command->tensor_all_reduce();
  int64_t bytes = reduce.source().size();
  Communicator *group = tensorGroup();
  if (!group || group->size() == 1)
    return device_.copy(at(reduce.result()), at(reduce.source()), bytes);
  if (Status s = device_.copy(tensorStaging_.data(), at(reduce.source()), bytes); !s.ok())
    return s;
  if (Status s = device_.synchronize(); !s.ok())
    return s;
  if (Status s = group->allReduceSumFloats(reduce.group(), p.where, tensorStaging_.data(),
                                           bytes / 4);
      !s.ok())
    return s;
  return device_.copy(at(reduce.result()), tensorStaging_.data(), bytes);
}

/// This process's rank among the `spec.shards` ranks a split parameter is spread over.
nnc::StatusOr<int> Executor::tensorRank(const ShardSpec &spec) const {
  Communicator *group = tensorGroup();
  int ranks = group ? group->size() : 1;
  if (ranks != spec.shards)
    return Status::error("the plan splits its layers over " + std::to_string(spec.shards) +
                         " ranks (nnc compile --tensor-parallel " + std::to_string(spec.shards) +
                         "), but this run has " + std::to_string(ranks) +
                         " (mpirun -np " + std::to_string(spec.shards) + ")");
  return group ? group->rank() : 0;
}

int Executor::tensorPart() const {
  Communicator *group = tensorGroup();
  return plan_.training().tensor_parallel() > 1 && group ? group->rank() : 0;
}

// A split parameter's stored values: the plan holds the whole tensor, this rank keeps its part.
Status Executor::writePart(const nnc::WriteBytes &write, const ShardSpec &spec) {
  nnc::StatusOr<int> rank = tensorRank(spec);
  if (!rank.ok())
    return rank.status();
  std::string whole = write.data(); // copyPart reads it through a mutable pointer
  std::vector<char> part(static_cast<size_t>(write.slice().size()));
  copyPart(shapeOf(write.type()), spec, *rank, sizeof(float), whole.data(), part.data(), false);
  return device_.copy(at(write.slice()), part.data(), write.slice().size());
}

// Issue 20: a vocabulary-parallel layer's rank in its tensor group, as the plan's i32 or i64
// scalar.
Status Executor::writeTensorRank(const nnc::TensorRank &command) {
  Communicator *group = tensorGroup();
  int64_t rank = group ? group->rank() : 0;
  if (command.result().size() == 4) {
    auto narrow = static_cast<int32_t>(rank);
    return device_.copy(at(command.result()), &narrow, sizeof narrow);
  }
  return device_.copy(at(command.result()), &rank, sizeof rank);
}

Status Executor::sumNow(const PreparedCommand &p) {
  std::vector<double> values(p.bucket.begin(), p.bucket.end());
  Communicator *communicator = reducerOf(p.command->all_reduce_start());
  if (Status s = communicator->allReduceSum(p.where, values.data(), int(values.size())); !s.ok())
    return s;
  std::copy(values.begin(), values.end(), p.bucket.begin());
  return unpack(p);
}

Status Executor::waitAllReduce(const PreparedCommand &p) {
  const nnc::AllReduceStart &reduce = p.start->command->all_reduce_start();
  Communicator *communicator = reducerOf(reduce);
  if (!communicator || communicator->size() == 1 || reduce.sum())
    return Status();
  if (Status s = communicator->wait(); !s.ok())
    return s;
  return unpack(*p.start);
}

/// The reduced bucket of an AllReduceStart to its result slices.
Status Executor::unpack(const PreparedCommand &start) {
  const nnc::AllReduceStart &reduce = start.command->all_reduce_start();
  const char *packed = reinterpret_cast<const char *>(start.bucket.data());
  for (const nnc::Slice &result : reduce.results()) {
    if (Status s = device_.copy(at(result), packed, result.size()); !s.ok())
      return s;
    packed += result.size();
  }
  return Status();
}

bool Executor::hasCollectives() const {
  for (const nnc::Function &function : plan_.functions())
    for (const nnc::Command &command : function.commands())
      if (command.has_all_reduce_start() || command.has_tensor_all_reduce() ||
          command.has_reduce_scatter())
        return true;
  return false;
}

// --- ZeRO-1 (issue 20) ----------------------------------------------------------------------
// Shards travel through host memory, like the all-reduce's buckets: the whole tensor is staged
// zero-padded to ranks x shard elements.

int Executor::ranks() const { return communicator_ ? communicator_->size() : 1; }
int Executor::rank() const { return communicator_ ? communicator_->rank() : 0; }

nnc::StatusOr<int64_t> Executor::shardElements(int64_t elements, int64_t shardBytes) const {
  int64_t shard = (elements + ranks() - 1) / ranks();
  if (shard * int64_t(sizeof(float)) != shardBytes)
    return Status::error("a shard of " + std::to_string(shardBytes / 4) + " of " +
                         std::to_string(elements) + " elements does not fit " +
                         std::to_string(ranks()) +
                         " ranks: the plan was compiled for another number of ranks "
                         "(nnc compile --data-parallel N --zero 1)");
  return shard;
}

Status Executor::runShardCommand(const PreparedCommand &p) {
  const nnc::Command &command = *p.command;
  bool gather = command.has_all_gather();
  const nnc::Slice &source = gather ? command.all_gather().source()
                             : command.has_reduce_scatter() ? command.reduce_scatter().source()
                                                            : command.take_shard().source();
  const nnc::Slice &result = gather ? command.all_gather().result()
                             : command.has_reduce_scatter() ? command.reduce_scatter().result()
                                                            : command.take_shard().result();
  const nnc::Slice &whole = gather ? result : source, &part = gather ? source : result;
  int64_t elements = whole.size() / int64_t(sizeof(float));
  nnc::StatusOr<int64_t> shard = shardElements(elements, part.size());
  if (!shard.ok())
    return shard.status();
  std::vector<float> padded(static_cast<size_t>(*shard * ranks()), 0.0f);
  std::vector<float> mine(static_cast<size_t>(*shard));
  if (gather) {
    if (Status s = device_.copy(mine.data(), at(source), source.size()); !s.ok())
      return s;
    if (Status s = device_.synchronize(); !s.ok())
      return s;
    if (ranks() == 1)
      padded = mine;
    else if (Status s = communicator_->allGather(p.where, mine.data(), padded.data(), *shard);
             !s.ok())
      return s;
    return device_.copy(at(result), padded.data(), result.size());
  }
  if (Status s = device_.copy(padded.data(), at(source), source.size()); !s.ok())
    return s;
  if (Status s = device_.synchronize(); !s.ok())
    return s;
  if (command.has_reduce_scatter() && ranks() > 1) {
    if (Status s = communicator_->reduceScatterMean(p.where, padded.data(), mine.data(), *shard);
        !s.ok())
      return s;
  } else {
    std::copy_n(padded.begin() + *shard * rank(), *shard, mine.begin());
  }
  return device_.copy(at(result), mine.data(), result.size());
}

Status Executor::run(std::string_view name) {
  for (const PreparedFunction &function : functions_) {
    if (function.function->name() != name)
      continue;
    GovernedRun governed(function.governor.get()); // issue 23: adaptive threads
    for (const PreparedCommand &command : function.commands) {
      using Clock = std::chrono::steady_clock;
      Clock::time_point start = profiling_ ? Clock::now() : Clock::time_point();
      if (Status s = execute(command); !s.ok())
        return Status::error(command.where + ": " + s.message());
      if (profiling_) {
        if (Status s = device_.synchronize(); !s.ok())
          return Status::error(command.where + ": " + s.message());
        double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        command.seconds += seconds;
        command.best = command.calls == 0 ? seconds : std::min(command.best, seconds);
        ++command.calls;
      }
    }
    return device_.synchronize();
  }
  return Status::error("the plan has no function '" + std::string(name) + "'");
}

// Issue 23: adaptive threads.
void Executor::enableAdaptiveThreads() {
  int threads = omp_get_max_threads();
  for (PreparedFunction &function : functions_)
    function.governor = std::make_unique<ThreadGovernor>(threads);
}

// --- Library calls alone (issue 23) ---------------------------------------------------------

namespace {

/// 2 m n k per product for a gemm, 2 x output elements x inputs per output for a convolution
/// (each of its three passes); 0 for other commands.
int64_t flopsOf(const nnc::Command &c) {
  if (c.has_gemm()) {
    const nnc::Gemm &g = c.gemm();
    int64_t batch = g.batch() == 0 ? 1 : g.batch();
    if (g.batch_dims_size() > 0) {
      batch = 1;
      for (int64_t d : g.batch_dims())
        batch *= d;
    }
    return 2 * batch * g.m() * g.n() * g.k();
  }
  if (c.has_conv2d()) {
    const nnc::Conv2d &conv = c.conv2d();
    if (conv.output_shape_size() != 4 || conv.weight_shape_size() != 4)
      return 0;
    int64_t outputs = 1;
    for (int64_t d : conv.output_shape())
      outputs *= d;
    return 2 * outputs * conv.weight_shape(1) * conv.weight_shape(2) * conv.weight_shape(3);
  }
  return 0;
}

/// Writes `bytes` on every thread of the pool, each its own part: every core's caches then
/// hold this buffer, not the operands, and the threads are awake when the call starts.
void evictCaches(std::vector<char> &buffer) {
  int64_t size = int64_t(buffer.size());
  char *data = buffer.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < size; i += 64)
    data[i] = char(data[i] + 1);
}

} // namespace

std::vector<Executor::CommandTime> Executor::commandTimes() const {
  std::vector<CommandTime> times;
  for (const PreparedFunction &function : functions_)
    for (const PreparedCommand &p : function.commands) {
      if (p.calls == 0)
        continue;
      const nnc::Command &c = *p.command;
      std::string what;
      if (c.has_kernel()) {
        what = "kernel " + c.kernel().symbol();
      } else if (c.has_gemm()) {
        const nnc::Gemm &g = c.gemm();
        what = "gemm " + (g.batch() > 1 ? std::to_string(g.batch()) + "x" : std::string()) +
               std::to_string(g.m()) + "x" + std::to_string(g.n()) + "x" + std::to_string(g.k());
      } else if (c.has_conv2d()) {
        what = "conv2d";
      } else if (c.has_causal_attention()) {
        const nnc::CausalAttention &a = c.causal_attention();
        what = std::string("causal_attention ") + (a.backward() ? "backward " : "forward ") +
               std::to_string(a.batch()) + "x" + std::to_string(a.t()) + "x" +
               std::to_string(a.d());
      } else if (c.has_copy()) {
        what = "copy " + std::to_string(c.copy().src().size()) + " bytes";
      } else {
        what = c.GetDescriptor()->FindFieldByNumber(c.kind_case())->name();
      }
      if (!c.node().empty())
        what += " (node '" + c.node() + "')";
      times.push_back({function.function->name(), what, p.seconds, p.calls, flopsOf(c), &c,
                       p.best, p.aloneHot, p.aloneCold, p.aloneParked, p.aloneOne});
    }
  return times;
}

// Issue 23: library calls timed alone.
Status Executor::timeLibraryCallsAlone(std::string_view name, int maxRepetitions) {
  // 64 MiB: twice this machine's L3 (32 MiB) and far beyond its L2s.
  std::vector<char> evict(size_t(64) << 20, 0);
  for (PreparedFunction &function : functions_) {
    if (function.function->name() != name)
      continue;
    for (PreparedCommand &p : function.commands) {
      if (!p.call)
        continue;
      int repetitions = int(std::clamp<int64_t>(p.calls, 3, std::max(3, maxRepetitions)));
      if (Status s = timeAlone(p, repetitions, evict); !s.ok())
        return Status::error(p.where + ": " + s.message());
    }
  }
  return Status();
}

/// One library call alone, on copies of its operands in fresh device memory.
Status Executor::timeAlone(PreparedCommand &p, int repetitions, std::vector<char> &evict) {
  LibraryOperands copies{};
  const nnc::Command &c = *p.command;
  const nnc::Slice *slices[4] = {};
  if (c.has_gemm())
    slices[0] = &c.gemm().a(), slices[1] = &c.gemm().b(), slices[2] = &c.gemm().bias(),
    slices[3] = &c.gemm().c();
  else
    slices[0] = &c.conv2d().input(), slices[1] = &c.conv2d().weight(),
    slices[2] = &c.conv2d().bias(), slices[3] = &c.conv2d().output();
  Status status;
  for (int i = 0; i < 4 && status.ok(); ++i) {
    if (!p.operands[i])
      continue;
    nnc::StatusOr<void *> copy = device_.allocate(slices[i]->size());
    if (!copy.ok()) {
      status = copy.status();
      break;
    }
    copies[i] = *copy;
    status = device_.copy(copies[i], p.operands[i], slices[i]->size());
  }
  using Clock = std::chrono::steady_clock;
  auto timed = [&](auto before, double &into) {
    std::vector<double> seconds;
    for (int r = 0; r < repetitions && status.ok(); ++r) {
      before();
      Clock::time_point start = Clock::now();
      status = p.call->run(copies);
      if (status.ok())
        status = device_.synchronize();
      seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    into = seconds.empty() ? 0 : *std::min_element(seconds.begin(), seconds.end());
  };
  if (status.ok())
    status = p.call->run(copies); // first touch of the copies
  timed([] {}, p.aloneHot);
  timed([&] { evictCaches(evict); }, p.aloneCold);
  // Longer than any OpenMP spin the bench or libgomp's defaults set (GOMP_SPINCOUNT).
  timed([] { std::this_thread::sleep_for(std::chrono::milliseconds(5)); }, p.aloneParked);
  // On the calling thread alone (the same primitive: its blocking does not change).
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  timed([] {}, p.aloneOne);
  omp_set_num_threads(threads);
  for (void *copy : copies)
    if (copy)
      device_.free(copy);
  return status;
}

nnc::StatusOr<const nnc::TensorSlice *>
Executor::findTensor(std::string_view functionName, std::string_view name, bool input) const {
  const nnc::Function *function = this->function(functionName);
  if (!function)
    return Status::error("the plan has no function '" + std::string(functionName) + "'");
  const auto &tensors = input ? function->inputs() : function->outputs();
  std::string names;
  for (const nnc::TensorSlice &tensor : tensors) {
    if (tensor.name() == name)
      return &tensor;
    names += (names.empty() ? "" : ", ") + tensor.name();
  }
  return Status::error("function '" + function->name() + "' has no " +
                       (input ? "input '" : "output '") + std::string(name) + "' (it has " +
                       (names.empty() ? "none" : names) + ")");
}

namespace {
/// read/write accept any TensorSlice, not only this plan's validated ones: refuse one that would
/// reach outside the arena or whose slice does not hold its type.
Status checkTensorSlice(const nnc::TensorSlice &tensor, int64_t arenaBytes) {
  const nnc::Slice &slice = tensor.slice();
  nnc::StatusOr<int64_t> bytes =
      partBytes(tensor.type().dtype(), shapeOf(tensor.type()), shardOf(tensor));
  if (!bytes.ok() || slice.offset() < 0 || slice.size() < 0 ||
      slice.offset() > arenaBytes - slice.size() || slice.size() != *bytes)
    return Status::error("tensor '" + tensor.name() + "' does not fit its slice of the arena");
  return Status();
}

/// Ids written to an input that indexes something (TensorSlice::index_limit) must lie in
/// [0, limit): the compiled lookups would otherwise read zero rows and train on them.
Status checkIndices(const nnc::TensorSlice &tensor, const HostTensor &value) {
  int64_t limit = tensor.index_limit();
  int64_t i = limit > 0 ? firstIdOutside(value, limit) : -1;
  if (i < 0)
    return Status();
  int64_t id = value.dtype == nnc::I64 ? reinterpret_cast<const int64_t *>(value.data.data())[i]
                                       : reinterpret_cast<const int32_t *>(value.data.data())[i];
  return Status::error("id " + std::to_string(id) + " (element " + std::to_string(i) +
                       ") is out of range: " +
                       (tensor.index_reader().empty() ? "it" : "'" + tensor.index_reader() + "'") +
                       " takes ids in [0, " + std::to_string(limit) + ")");
}
} // namespace

Status Executor::write(const nnc::TensorSlice &tensor, const HostTensor &value) {
  if (Status s = checkTensorSlice(tensor, arenaBytes_); !s.ok())
    return s;
  if (Status s = checkType(value, tensor.type()); !s.ok())
    return s;
  if (ShardSpec spec = shardOf(tensor); spec.split()) { // this rank's part of the whole value
    nnc::StatusOr<int> rank = tensorRank(spec);
    if (!rank.ok())
      return rank.status();
    std::vector<char> part(static_cast<size_t>(tensor.slice().size()));
    HostTensor whole = value;
    copyPart(value.shape, spec, *rank, dtypeSize(value.dtype),
             reinterpret_cast<char *>(whole.data.data()), part.data(), false);
    if (Status s = device_.copy(at(tensor.slice()), part.data(), tensor.slice().size()); !s.ok())
      return s;
    return device_.synchronize();
  }
  if (Status s = checkIndices(tensor, value); !s.ok())
    return s;
  if (Status s = device_.copy(at(tensor.slice()), value.data.data(), tensor.slice().size());
      !s.ok())
    return s;
  return device_.synchronize();
}

nnc::StatusOr<HostTensor> Executor::read(const nnc::TensorSlice &tensor) const {
  if (Status s = checkTensorSlice(tensor, arenaBytes_); !s.ok())
    return s;
  if (shardOf(tensor).split())
    return gather(tensor);
  HostTensor value(tensor.type().dtype(), shapeOf(tensor.type()));
  if (Status s = device_.copy(value.data.data(), at(tensor.slice()), tensor.slice().size());
      !s.ok())
    return s;
  if (Status s = device_.synchronize(); !s.ok())
    return s;
  return value;
}

// A split parameter, whole: every rank puts its part in place in zeros and the ranks sum them
// (exact: each element is one part's value plus zeros), so every rank must call it, in the same
// order.
nnc::StatusOr<HostTensor> Executor::gather(const nnc::TensorSlice &tensor) const {
  if (tensor.type().dtype() != nnc::F32)
    return Status::error("tensor '" + tensor.name() + "': only f32 parameters can be split");
  std::vector<char> part(static_cast<size_t>(tensor.slice().size()));
  if (Status s = device_.copy(part.data(), at(tensor.slice()), tensor.slice().size()); !s.ok())
    return s;
  if (Status s = device_.synchronize(); !s.ok())
    return s;
  return assembleParts(tensor.name(), shardOf(tensor), shapeOf(tensor.type()), part.data());
}

/// The whole f32 tensor of shape `whole` from every rank's `part`, summed over the tensor group.
nnc::StatusOr<HostTensor> Executor::assembleParts(const std::string &name, const ShardSpec &spec,
                                                  const Shape &whole, const char *part) const {
  nnc::StatusOr<int> rank = tensorRank(spec);
  if (!rank.ok())
    return rank.status();
  HostTensor value(nnc::F32, whole);
  std::fill(value.data.begin(), value.data.end(), 0);
  copyPart(value.shape, spec, *rank, sizeof(float), reinterpret_cast<char *>(value.data.data()),
           const_cast<char *>(part), true);
  if (Status s = tensorGroup()->allReduceSumFloats(
          "tensor", "parameter '" + name + "'", reinterpret_cast<float *>(value.data.data()),
          value.numElements());
      !s.ok())
    return s;
  return value;
}

Status Executor::setInput(std::string_view function, std::string_view input,
                          const HostTensor &value) {
  nnc::StatusOr<const nnc::TensorSlice *> tensor = findTensor(function, input, true);
  if (!tensor.ok())
    return tensor.status();
  return write(**tensor, value);
}

nnc::StatusOr<HostTensor> Executor::getOutput(std::string_view function,
                                              std::string_view output) const {
  nnc::StatusOr<const nnc::TensorSlice *> tensor = findTensor(function, output, false);
  if (!tensor.ok())
    return tensor.status();
  return read(**tensor);
}

nnc::StatusOr<HostTensor> Executor::getParameter(std::string_view name) const {
  for (const nnc::TensorSlice &parameter : plan_.parameters())
    if (parameter.name() == name)
      return read(parameter);
  return Status::error("the plan has no parameter '" + std::string(name) + "'");
}

} // namespace nnrt

namespace nnrt {

nnc::TensorSlice Executor::logicalOf(const nnc::TensorSlice &parameter) {
  nnc::TensorSlice logical = parameter;
  if (parameter.has_zero_logical())
    *logical.mutable_type() = parameter.zero_logical();
  return logical;
}

namespace {

/// `tensor` without its tensor-parallel split: the bytes at its slice as they are.
nnc::TensorSlice unsplit(const nnc::TensorSlice &tensor) {
  nnc::TensorSlice raw = tensor;
  raw.clear_shard_axis();
  raw.clear_shards();
  raw.clear_shard_groups();
  return raw;
}

/// The shape of one tensor-parallel part of `whole` (`whole` itself when it is not split).
Shape partShape(Shape whole, const ShardSpec &spec) {
  if (spec.split())
    whole[size_t(spec.axis)] /= spec.shards;
  return whole;
}

} // namespace

// With tensor parallelism too, a ZeRO entry is this rank's shard of its tensor-parallel part:
// the shards are gathered over the data group into the part, the parts over the tensor group.
nnc::StatusOr<HostTensor> Executor::readParameter(const nnc::TensorSlice &parameter) const {
  nnc::StatusOr<HostTensor> part =
      read(parameter.has_zero_logical() ? unsplit(parameter) : parameter);
  if (!part.ok() || !parameter.has_zero_logical())
    return part;
  ShardSpec spec = shardOf(parameter);
  HostTensor whole(parameter.zero_logical().dtype(),
                   partShape(shapeOf(parameter.zero_logical()), spec));
  nnc::StatusOr<int64_t> shard = shardElements(whole.numElements(), parameter.slice().size());
  if (!shard.ok())
    return shard.status();
  std::vector<float> padded(size_t(*shard * ranks()));
  const auto *mine = reinterpret_cast<const float *>(part->data.data());
  if (ranks() == 1)
    std::copy_n(mine, *shard, padded.begin());
  else if (Status s = communicator_->allGather("the checkpoint's '" + parameter.name() + "'",
                                              mine, padded.data(), *shard);
           !s.ok())
    return s;
  std::memcpy(whole.data.data(), padded.data(), whole.data.size());
  if (spec.split())
    return assembleParts(parameter.name(), spec, shapeOf(parameter.zero_logical()),
                         reinterpret_cast<const char *>(whole.data.data()));
  return whole;
}

Status Executor::writeParameter(const nnc::TensorSlice &parameter, const HostTensor &value) {
  if (!parameter.has_zero_logical())
    return write(parameter, value);
  if (Status s = checkType(value, parameter.zero_logical()); !s.ok())
    return s;
  ShardSpec spec = shardOf(parameter);
  HostTensor local = value; // this rank's tensor-parallel part
  if (spec.split()) {
    nnc::StatusOr<int> t = tensorRank(spec);
    if (!t.ok())
      return t.status();
    local = HostTensor(value.dtype, partShape(value.shape, spec));
    HostTensor whole = value;
    copyPart(value.shape, spec, *t, sizeof(float), reinterpret_cast<char *>(whole.data.data()),
             reinterpret_cast<char *>(local.data.data()), false);
  }
  nnc::StatusOr<int64_t> shard = shardElements(local.numElements(), parameter.slice().size());
  if (!shard.ok())
    return shard.status();
  HostTensor part(parameter.type().dtype(), shapeOf(parameter.type()));
  std::vector<float> padded(size_t(*shard * ranks()), 0.0f);
  std::memcpy(padded.data(), local.data.data(), local.data.size());
  std::memcpy(part.data.data(), padded.data() + *shard * rank(), part.data.size());
  return write(unsplit(parameter), part);
}

bool Executor::hasShardedParameters() const {
  for (const nnc::TensorSlice &parameter : plan_.parameters())
    if (parameter.has_zero_logical())
      return true;
  return false;
}

} // namespace nnrt
