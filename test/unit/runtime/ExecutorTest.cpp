// Executor tests: on the null driver, that a hand-built plan's commands reach the device in order
// with the right slices; on the cpu driver, that whole plans compute (KernelCall through the
// memfd/dlopen path, Gemm through oneDNN, Copy within the arena) and that inputs/outputs are
// checked.
#include "TestSupport.h"

#include "runtime/Executor.h"
#include "runtime/collective/Communicator.h"
#include "runtime/device/cpu/CpuDevice.h"
#include "runtime/device/null/NullDevice.h"

#include <fstream>

namespace nnrt {
namespace {

using Kind = RecordedCall::Kind;
using test::makeSlice;
using test::makeTensor;

/// A plan touching every command kind. Arena layout (bytes):
///   0   w (2x4 f32, 32)      32  b (4 f32, 16)     48 x (3x2 f32, 24)    72 y (3x4 f32, 48)
///   120 k1 (8 f32, 32)       152 k2 (8 f32, 32)   184 conv in (1,1,3,3: 36) 220 conv w (1,1,2,2: 16)
///   236 conv out (1,1,2,2: 16)                                               total 252
nnc::Plan everyCommandPlan() {
  nnc::Plan plan = test::makePlan(252);
  plan.set_kernel_library(test::testKernelLibrary());
  *plan.add_parameters() = makeTensor("w", {2, 4}, 0);
  *plan.add_parameters() = makeTensor("b", {4}, 32);

  nnc::Function *init = plan.add_functions();
  init->set_name("init");
  nnc::Command *initW = init->add_commands();
  initW->set_node("fc.weight");
  nnc::InitParameter *ip = initW->mutable_init_parameter();
  *ip->mutable_slice() = makeSlice(0, 32);
  *ip->mutable_type() = test::makeType(nnc::F32, {2, 4});
  ip->mutable_init()->set_kind(nnc::Initializer::KAIMING_UNIFORM);
  ip->set_stream(0);
  nnc::Command *writeB = init->add_commands();
  writeB->set_node("fc.bias");
  *writeB->mutable_write_bytes()->mutable_slice() = makeSlice(32, 16);
  std::vector<float> bias = {0.5f, -0.5f, 1.0f, 0.0f};
  writeB->mutable_write_bytes()->set_data(std::string(reinterpret_cast<char *>(bias.data()), 16));

  nnc::Function *predict = plan.add_functions();
  predict->set_name("predict");
  *predict->add_inputs() = makeTensor("x", {3, 2}, 48);
  *predict->add_outputs() = makeTensor("y", {3, 4}, 72);
  nnc::Command *add = predict->add_commands();
  add->set_node("add");
  add->mutable_kernel()->set_symbol("nnrt_test_add8");
  *add->mutable_kernel()->add_args() = makeSlice(120, 32);
  *add->mutable_kernel()->add_args() = makeSlice(120, 32);
  *add->mutable_kernel()->add_args() = makeSlice(152, 32);
  nnc::Gemm *gemm = test::addGemm(predict, "fc", makeSlice(48, 24), makeSlice(0, 32),
                                  makeSlice(72, 48), 3, 4, 2);
  *gemm->mutable_bias() = makeSlice(32, 16);
  gemm->set_post_op(nnc::POST_OP_RELU);
  nnc::Command *conv = predict->add_commands();
  conv->set_node("conv");
  nnc::Conv2d *c = conv->mutable_conv2d();
  *c->mutable_input() = makeSlice(184, 36);
  *c->mutable_weight() = makeSlice(220, 16);
  *c->mutable_output() = makeSlice(236, 16);
  for (int64_t d : {1, 1, 3, 3})
    c->add_input_shape(d);
  for (int64_t d : {1, 1, 2, 2})
    c->add_weight_shape(d);
  for (int64_t d : {1, 1, 2, 2})
    c->add_output_shape(d);
  nnc::Command *twice = predict->add_commands();
  twice->set_node("double");
  twice->mutable_kernel()->set_symbol("nnrt_test_double8");
  *twice->mutable_kernel()->add_args() = makeSlice(152, 32);
  *twice->mutable_kernel()->add_args() = makeSlice(120, 32);
  return plan;
}

TEST(ExecutorTest, NullDriverRecordsCommandsInOrderWithTheirSlices) {
  NullDevice device;
  auto executor = Executor::prepare(everyCommandPlan(), device);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  const Executor &exec = **executor;
  auto at = [&](int64_t offset) -> const void * {
    return static_cast<char *>(exec.arenaBase()) + offset;
  };

  // Prepare: the arena, then the library with each symbol once, in first-use order.
  ASSERT_EQ(device.calls().size(), 2u);
  EXPECT_EQ(device.calls()[0].kind, Kind::Allocate);
  EXPECT_EQ(device.calls()[0].bytes, 252);
  EXPECT_EQ(device.calls()[1].kind, Kind::LoadKernelLibrary);
  EXPECT_EQ(device.calls()[1].bytes, int64_t(exec.plan().kernel_library().size()));

  device.clearCalls();
  ASSERT_TRUE((*executor)->run("init").ok());
  ASSERT_EQ(device.calls().size(), 3u);
  EXPECT_EQ(device.calls()[0].kind, Kind::Copy);
  EXPECT_EQ(device.calls()[0].pointers[0], at(0));
  EXPECT_EQ(device.calls()[0].bytes, 32);
  EXPECT_EQ(device.calls()[1].kind, Kind::Copy);
  EXPECT_EQ(device.calls()[1].pointers[0], at(32));
  EXPECT_EQ(device.calls()[1].bytes, 16);
  EXPECT_EQ(device.calls()[2].kind, Kind::Synchronize);

  device.clearCalls();
  ASSERT_TRUE((*executor)->run("predict").ok());
  const auto &calls = device.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].kind, Kind::Launch);
  EXPECT_EQ(calls[0].symbol, "nnrt_test_add8");
  EXPECT_EQ(calls[0].pointers, (std::vector<const void *>{at(120), at(120), at(152)}));
  EXPECT_EQ(calls[1].kind, Kind::Gemm);
  EXPECT_EQ(calls[1].pointers, (std::vector<const void *>{at(48), at(0), at(32), at(72)}));
  EXPECT_EQ(calls[1].gemm.m, 3);
  EXPECT_EQ(calls[1].gemm.n, 4);
  EXPECT_EQ(calls[1].gemm.k, 2);
  EXPECT_EQ(calls[1].gemm.batch, 1); // 0 in the plan means 1
  EXPECT_TRUE(calls[1].gemm.hasBias);
  EXPECT_EQ(calls[1].gemm.postOp, PostOp::Relu);
  EXPECT_EQ(calls[2].kind, Kind::Conv2d);
  EXPECT_EQ(calls[2].pointers, (std::vector<const void *>{at(184), at(220), nullptr, at(236)}));
  EXPECT_EQ(calls[2].conv2d.groups, 1);
  EXPECT_EQ(calls[2].conv2d.stride, (std::array<int64_t, 2>{1, 1}));
  EXPECT_EQ(calls[2].conv2d.dilation, (std::array<int64_t, 2>{1, 1}));
  EXPECT_FALSE(calls[2].conv2d.hasBias);
  EXPECT_EQ(calls[3].kind, Kind::Launch);
  EXPECT_EQ(calls[3].symbol, "nnrt_test_double8");
  EXPECT_EQ(calls[3].pointers, (std::vector<const void *>{at(152), at(120)}));
  EXPECT_EQ(calls[4].kind, Kind::Synchronize);
}

TEST(ExecutorTest, CopyCommandsCopyWithinTheArena) {
  // train_step's tail: w.update copies w_new (76) over w (0); reuse copies loss (92) to 64.
  NullDevice null;
  auto recorded = Executor::prepare(test::trainPlan(), null);
  ASSERT_TRUE(recorded.ok()) << recorded.status().message();
  null.clearCalls();
  ASSERT_TRUE((*recorded)->run("train_step").ok());
  auto at = [&](int64_t offset) -> const void * {
    return static_cast<char *>((*recorded)->arenaBase()) + offset;
  };
  const auto &calls = null.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].kind, Kind::Gemm);
  EXPECT_EQ(calls[1].kind, Kind::Launch);
  EXPECT_EQ(calls[2].kind, Kind::Copy);
  EXPECT_EQ(calls[2].pointers, (std::vector<const void *>{at(0), at(76)})); // {dst, src}
  EXPECT_EQ(calls[2].bytes, 16);
  EXPECT_EQ(calls[3].kind, Kind::Copy);
  EXPECT_EQ(calls[3].pointers, (std::vector<const void *>{at(64), at(92)}));
  EXPECT_EQ(calls[3].bytes, 4);
  EXPECT_EQ(calls[4].kind, Kind::Synchronize);

  // On the cpu the bytes move: a plan of nothing but the two copies.
  nnc::Plan plan = test::trainPlan();
  nnc::Function *step = plan.mutable_functions(1);
  step->mutable_commands()->DeleteSubrange(0, 2);
  CpuDevice cpu;
  auto executor = Executor::prepare(std::move(plan), cpu);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  Executor &exec = **executor;
  ASSERT_TRUE(exec.write(makeTensor("w_new", {4}, 76), HostTensor::fromFloats({4}, {1, 2, 3, 4}))
                  .ok());
  ASSERT_TRUE(exec.write(makeTensor("loss", {}, 92), HostTensor::fromFloats({}, {7.5f})).ok());
  ASSERT_TRUE(exec.run("train_step").ok());
  EXPECT_EQ(exec.getParameter("w")->toFloats(), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(exec.read(makeTensor("lr", {}, 64))->toFloats(), (std::vector<float>{7.5f}));
  EXPECT_EQ(exec.read(makeTensor("w_new", {4}, 76))->toFloats(),
            (std::vector<float>{1, 2, 3, 4})); // the source is left as it was
}

/// A communicator of two ranks whose peer holds 10 * (index + 1) at every index of a bucket, so
/// the mean is (mine + peer) / 2; it records what it was asked.
class FakePeer : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  nnc::Status startAllReduceMean(std::string_view tag, float *data, int64_t count) override {
    tags.emplace_back(tag);
    inFlight.push_back({data, count});
    return nnc::Status();
  }
  nnc::Status wait() override {
    auto [data, count] = inFlight.front();
    inFlight.erase(inFlight.begin());
    for (int64_t i = 0; i < count; ++i)
      data[i] = (data[i] + 10.0f * static_cast<float>(i + 1)) / 2;
    ++waits;
    return nnc::Status();
  }
  nnc::Status allReduceSum(std::string_view, double *, int) override { return nnc::Status(); }
  nnc::Status barrier(std::string_view) override { return nnc::Status(); }
  nnc::Status send(int, std::string_view, const void *, int64_t) override {
    return nnc::Status::error("no point-to-point here");
  }
  nnc::Status recv(int, std::string_view, void *, int64_t) override {
    return nnc::Status::error("no point-to-point here");
  }

  std::vector<std::string> tags;
  std::vector<std::pair<float *, int64_t>> inFlight;
  int waits = 0;
};

TEST(ExecutorTest, AllReduceAveragesABucketOverTheRanks) {
  // Arena: g0 (2 f32) at 0, g1 (1 f32) at 8; their means at 16 and 24. One bucket of both.
  nnc::Plan plan = test::makePlan(32);
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  nnc::Command *start = step->add_commands();
  start->set_node("all_reduce.bucket0");
  nnc::AllReduceStart *reduce = start->mutable_all_reduce_start();
  reduce->set_dtype(nnc::F32);
  *reduce->add_sources() = makeSlice(0, 8);
  *reduce->add_sources() = makeSlice(8, 4);
  *reduce->add_results() = makeSlice(16, 8);
  *reduce->add_results() = makeSlice(24, 4);
  nnc::Command *wait = step->add_commands();
  wait->set_node("all_reduce.bucket0");
  wait->mutable_all_reduce_wait()->set_sequence(0);

  CpuDevice cpu;
  auto executor = Executor::prepare(plan, cpu);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  Executor &exec = **executor;
  EXPECT_TRUE(exec.hasCollectives());
  ASSERT_TRUE(exec.write(makeTensor("g0", {2}, 0), HostTensor::fromFloats({2}, {2, 4})).ok());
  ASSERT_TRUE(exec.write(makeTensor("g1", {1}, 8), HostTensor::fromFloats({1}, {6})).ok());

  // Alone, a process is a group of one: the mean is the value itself.
  ASSERT_TRUE(exec.run("train_step").ok());
  EXPECT_EQ(exec.read(makeTensor("m0", {2}, 16))->toFloats(), (std::vector<float>{2, 4}));
  EXPECT_EQ(exec.read(makeTensor("m1", {1}, 24))->toFloats(), (std::vector<float>{6}));

  // With a peer: one collective for the packed bucket [2, 4, 6] against [10, 20, 30].
  FakePeer peer;
  exec.setCommunicator(&peer);
  ASSERT_TRUE(exec.run("train_step").ok());
  EXPECT_EQ(peer.tags, (std::vector<std::string>{"function 'train_step', node "
                                                 "'all_reduce.bucket0'"}));
  EXPECT_EQ(peer.waits, 1);
  EXPECT_EQ(exec.read(makeTensor("m0", {2}, 16))->toFloats(), (std::vector<float>{6, 12}));
  EXPECT_EQ(exec.read(makeTensor("m1", {1}, 24))->toFloats(), (std::vector<float>{18}));
  EXPECT_EQ(exec.read(makeTensor("g0", {2}, 0))->toFloats(), (std::vector<float>{2, 4}));
}

TEST(ExecutorTest, FreesTheArenaOnDestruction) {
  NullDevice device;
  void *arena = nullptr;
  {
    auto executor = Executor::prepare(everyCommandPlan(), device);
    ASSERT_TRUE(executor.ok());
    arena = (*executor)->arenaBase();
  }
  ASSERT_FALSE(device.calls().empty());
  EXPECT_EQ(device.calls().back().kind, Kind::Free);
  EXPECT_EQ(device.calls().back().pointers[0], arena);
}

TEST(ExecutorTest, ArenaBytesEqualsThePlansFigure) {
  for (const char *driver : {"null", "cpu"}) {
    std::unique_ptr<Device> device = driver == std::string("cpu")
                                         ? std::unique_ptr<Device>(std::make_unique<CpuDevice>())
                                         : std::make_unique<NullDevice>();
    nnc::Plan plan = everyCommandPlan();
    int64_t planBytes = plan.arena_bytes();
    auto executor = Executor::prepare(std::move(plan), *device);
    ASSERT_TRUE(executor.ok()) << driver << ": " << executor.status().message();
    EXPECT_EQ((*executor)->arenaBytes(), planBytes) << driver;
  }
}

TEST(ExecutorTest, CpuRunsAWholePlan) {
  CpuDevice device;
  auto executor = Executor::prepare(everyCommandPlan(), device);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  Executor &exec = **executor;
  ASSERT_TRUE(exec.run("init").ok());
  auto w = exec.getParameter("w");
  auto b = exec.getParameter("b");
  ASSERT_TRUE(w.ok() && b.ok());
  // KAIMING_UNIFORM with fan_in derived from (2, 4): shape[1] = 4, bound 1/sqrt(4) = 0.5.
  for (float v : w->toFloats())
    EXPECT_LE(std::abs(v), 0.5f);
  EXPECT_EQ(b->toFloats(), (std::vector<float>{0.5f, -0.5f, 1.0f, 0.0f}));

  // Kernel inputs live at slices no function input names; write them through a TensorSlice.
  std::vector<float> k = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(exec.write(makeTensor("k1", {8}, 120), HostTensor::fromFloats({8}, k)).ok());
  HostTensor x = HostTensor::fromFloats({3, 2}, {1, -2, 0.5f, 0.25f, -1, 3});
  ASSERT_TRUE(exec.setInput("predict", "x", x).ok());
  nnc::Status status = exec.run("predict");
  ASSERT_TRUE(status.ok()) << status.message();

  // y = relu(x @ w + b), the Gemm with w as (k=2, n=4).
  GemmDesc d{1, 3, 4, 2, false, false, true, PostOp::Relu};
  std::vector<float> want = test::referenceGemm(d, x.toFloats(), w->toFloats(), b->toFloats());
  auto y = exec.getOutput("predict", "y");
  ASSERT_TRUE(y.ok());
  std::vector<float> got = y->toFloats();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-6) << i; // k = 2: both sides round the same few terms
  // k1 = 2 * (k1 + k1) through the two kernels.
  auto k1 = exec.read(makeTensor("k1", {8}, 120));
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(k1->toFloats(), (std::vector<float>{4, 8, 12, 16, 20, 24, 28, 32}));
}

TEST(ExecutorTest, MissingKernelSymbolNamesTheNode) {
  nnc::Plan plan = everyCommandPlan();
  plan.mutable_functions(1)->mutable_commands(3)->mutable_kernel()->set_symbol("nnrt_missing");
  CpuDevice device;
  auto executor = Executor::prepare(std::move(plan), device);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().message(),
            "function 'predict', node 'double': the kernel library does not export "
            "'nnrt_missing'");
}

TEST(ExecutorTest, InitIsDeterministicPerSeed) {
  auto initialWeights = [](uint64_t seed) {
    nnc::Plan plan = everyCommandPlan();
    plan.set_seed(seed);
    NullDevice device;
    auto executor = Executor::prepare(std::move(plan), device);
    EXPECT_TRUE(executor.ok());
    EXPECT_TRUE((*executor)->run("init").ok());
    return (*executor)->getParameter("w")->toFloats();
  };
  EXPECT_EQ(initialWeights(7), initialWeights(7));
  EXPECT_NE(initialWeights(7), initialWeights(8));
}

TEST(ExecutorTest, InputsAreChecked) {
  NullDevice device;
  auto executor = Executor::prepare(everyCommandPlan(), device);
  ASSERT_TRUE(executor.ok());
  Executor &exec = **executor;
  nnc::Status wrongShape = exec.setInput("predict", "x", HostTensor(nnc::F32, {10, 2}));
  EXPECT_EQ(wrongShape.message(), "expected shape [3,2] f32, got [10,2] f32");
  nnc::Status wrongType = exec.setInput("predict", "x", HostTensor(nnc::I64, {3, 2}));
  EXPECT_EQ(wrongType.message(), "expected shape [3,2] f32, got [3,2] i64");
  EXPECT_EQ(exec.setInput("predict", "z", HostTensor(nnc::F32, {3, 2})).message(),
            "function 'predict' has no input 'z' (it has x)");
  EXPECT_EQ(exec.setInput("train", "x", HostTensor(nnc::F32, {3, 2})).message(),
            "the plan has no function 'train'");
  EXPECT_EQ(exec.run("train").message(), "the plan has no function 'train'");
  EXPECT_FALSE(exec.getParameter("nope").ok());
  EXPECT_FALSE(exec.read(makeTensor("outside", {100}, 200)).ok());
}

TEST(ExecutorTest, PrepareValidatesThePlan) {
  nnc::Plan plan = everyCommandPlan();
  plan.mutable_functions(1)->mutable_commands(1)->mutable_gemm()->mutable_c()->set_offset(240);
  NullDevice device;
  auto executor = Executor::prepare(std::move(plan), device);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().message(),
            "function 'predict', node 'fc': operand c [offset 240, 48 bytes] lies outside the "
            "arena (252 bytes)");
  EXPECT_TRUE(device.calls().empty()); // refused before touching the device
}

// The runtime must never pull in MLIR or LLVM (DESIGN.md section 3): check the loaded objects.
TEST(RuntimeLinkTest, NoMlirOrLlvmLoaded) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    EXPECT_EQ(line.find("libMLIR"), std::string::npos) << line;
    EXPECT_EQ(line.find("libLLVM"), std::string::npos) << line;
  }
}


/// ZeRO-1 (issue 20): rank 1 of 2, whose peer (rank 0) contributes `peerWhole` to a
/// reduce-scatter (zero padding included) and `peerShard` to an all-gather.
class ShardPeer : public FakePeer {
public:
  int rank() const override { return 1; }
  nnc::Status reduceScatterMean(std::string_view tag, const float *data, float *shard,
                                int64_t shardCount) override {
    tags.emplace_back(tag);
    for (int64_t i = 0; i < shardCount; ++i)
      shard[i] = (data[shardCount + i] + peerWhole[size_t(shardCount + i)]) / 2;
    return nnc::Status();
  }
  nnc::Status allGather(std::string_view tag, const float *shard, float *data,
                        int64_t shardCount) override {
    tags.emplace_back(tag);
    for (int64_t i = 0; i < shardCount; ++i) {
      data[i] = peerShard[size_t(i)];
      data[shardCount + i] = shard[i];
    }
    return nnc::Status();
  }
  std::vector<float> peerWhole = {10, 20, 30, 0}, peerShard = {100, 200};
};

TEST(ExecutorTest, ShardCommandsTakeThisRanksPaddedShard) {
  // Arena: a gradient g (3 f32) at 0 and its shard at 16; a parameter p (3 f32) at 32, its
  // shard at 48, gathered at 64. Over 2 ranks 3 elements pad to 4: rank 1 holds [2, 4).
  nnc::Plan plan = test::makePlan(80);
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  nnc::ReduceScatter *scatter = step->add_commands()->mutable_reduce_scatter();
  *scatter->mutable_source() = makeSlice(0, 12);
  *scatter->mutable_result() = makeSlice(16, 8);
  nnc::TakeShard *take = step->add_commands()->mutable_take_shard();
  *take->mutable_source() = makeSlice(32, 12);
  *take->mutable_result() = makeSlice(48, 8);
  nnc::AllGather *gather = step->add_commands()->mutable_all_gather();
  *gather->mutable_source() = makeSlice(48, 8);
  *gather->mutable_result() = makeSlice(64, 12);
  nnc::TensorSlice state = makeTensor("p.exp_avg", {2}, 48); // a shard of a (3) tensor
  *state.mutable_zero_logical() = test::makeType(nnc::F32, {3});
  *plan.add_parameters() = state;

  CpuDevice cpu;
  auto executor = Executor::prepare(plan, cpu);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  Executor &exec = **executor;
  ShardPeer peer;
  exec.setCommunicator(&peer);
  ASSERT_TRUE(exec.write(makeTensor("g", {3}, 0), HostTensor::fromFloats({3}, {1, 2, 3})).ok());
  ASSERT_TRUE(exec.write(makeTensor("p", {3}, 32), HostTensor::fromFloats({3}, {5, 6, 7})).ok());
  ASSERT_TRUE(exec.run("train_step").ok());
  // Mean of element 2 over the ranks, (3 + 30) / 2; element 3 is padding on both.
  EXPECT_EQ(exec.read(makeTensor("gs", {2}, 16))->toFloats(), (std::vector<float>{16.5f, 0}));
  EXPECT_EQ(exec.read(makeTensor("ps", {2}, 48))->toFloats(), (std::vector<float>{7, 0}));
  // Rank 0's shard first, then this rank's; the padding dropped.
  EXPECT_EQ(exec.read(makeTensor("pw", {3}, 64))->toFloats(), (std::vector<float>{100, 200, 7}));

  // The parameter table's shard reads and writes whole: written, rank 1 keeps [2, 4) of it.
  ASSERT_TRUE(exec.writeParameter(state, HostTensor::fromFloats({3}, {8, 9, 10})).ok());
  EXPECT_EQ(exec.read(state)->toFloats(), (std::vector<float>{10, 0}));
  EXPECT_EQ(exec.readParameter(state)->toFloats(), (std::vector<float>{100, 200, 10}));
  EXPECT_TRUE(exec.hasShardedParameters());
  EXPECT_FALSE(exec.writeParameter(state, HostTensor::fromFloats({2}, {1, 2})).ok());
}

} // namespace
} // namespace nnrt
