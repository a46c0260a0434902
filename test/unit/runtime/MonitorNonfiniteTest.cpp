// The runtime's side of the non-finite check: which plans it binds (find_nonfinite whose
// checked_nodes name every flag, the update's update_skipped output), how origins read, and
// that the first non-finite flag, not a later one, is the origin.
#include "runtime/Executor.h"
#include "runtime/device/cpu/CpuDevice.h"
#include "runtime/monitor/NonfiniteOrigin.h"

#include <gtest/gtest.h>

#include <cmath>

namespace nnrt {
namespace {

nnc::TensorSlice f32(const std::string &name, std::vector<int64_t> shape, int64_t offset) {
  nnc::TensorSlice t;
  t.set_name(name);
  t.mutable_type()->set_dtype(nnc::F32);
  int64_t n = 1;
  for (int64_t d : shape)
    t.mutable_type()->add_shape(d), n *= d;
  t.mutable_slice()->set_offset(offset);
  t.mutable_slice()->set_size(4 * n);
  return t;
}

/// find_nonfinite with three flags at offset 0 (no commands: the test writes the flags) and
/// a train_step whose update_skipped sits at 64.
nnc::Plan probePlan(int named) {
  nnc::Plan plan;
  plan.set_version(nnc::PLAN_VERSION_CURRENT);
  plan.set_arena_bytes(128);
  nnc::Function *find = plan.add_functions();
  find->set_name("find_nonfinite");
  *find->add_outputs() = f32("nonfinite_checks", {3}, 0);
  const char *nodes[][2] = {{"x", "input"}, {"fc1", "forward"}, {"fc1", "backward"}};
  for (int i = 0; i < named; ++i) {
    nnc::CheckedNode *node = find->add_checked_nodes();
    node->set_node(nodes[i][0]);
    node->set_pass(nodes[i][1]);
  }
  nnc::Function *step = plan.add_functions();
  step->set_name("train_step");
  *step->add_outputs() = f32("loss", {}, 32);
  *step->add_outputs() = f32("update_skipped", {}, 64);
  return plan;
}

TEST(MonitorNonfiniteTest, BindsOnlyAProbeThatNamesEveryFlag) {
  EXPECT_TRUE(findNonfiniteProbe(probePlan(3)));
  EXPECT_FALSE(findNonfiniteProbe(probePlan(2)));
  std::optional<nnc::TensorSlice> guard = findUpdateGuard(probePlan(3));
  ASSERT_TRUE(guard);
  EXPECT_EQ(guard->slice().offset(), 64);
  EXPECT_FALSE(findUpdateGuard(nnc::Plan()));
}

TEST(MonitorNonfiniteTest, Describes) {
  EXPECT_EQ((NonfiniteOrigin{"bad_log", "forward"}).describe(), "node 'bad_log' (forward)");
  EXPECT_EQ((NonfiniteOrigin{"fc1", "backward"}).describe(), "node 'fc1' (backward)");
  EXPECT_EQ((NonfiniteOrigin{"fc1.weight", "parameter"}).describe(), "parameter 'fc1.weight'");
  EXPECT_EQ((NonfiniteOrigin{"x", "input"}).describe(), "input 'x'");
}

TEST(MonitorNonfiniteTest, TheFirstNonFiniteFlagIsTheOrigin) {
  nnc::Plan plan = probePlan(3);
  std::optional<NonfiniteProbe> probe = findNonfiniteProbe(plan);
  ASSERT_TRUE(probe);
  CpuDevice device;  // real copies, so the flags read back as written
  auto executor = Executor::prepare(plan, device);
  ASSERT_TRUE(executor.ok()) << executor.status().message();
  auto none = [](const std::string &) -> const HostTensor * { return nullptr; };
  // find_nonfinite has no commands here, so the flags are what the test writes.
  for (auto [flags, expected] : std::vector<std::pair<std::vector<float>, std::string>>{
           {{0, NAN, INFINITY}, "node 'fc1' (forward)"},
           {{0, 0, NAN}, "node 'fc1' (backward)"},
           {{NAN, NAN, 0}, "input 'x'"},
           {{0, 0, 0}, ""}}) {
    ASSERT_TRUE((*executor)->write(probe->checks, HostTensor::fromFloats({3}, flags)).ok());
    nnc::StatusOr<std::optional<NonfiniteOrigin>> origin =
        locateNonfinite(**executor, *probe, none);
    ASSERT_TRUE(origin.ok()) << origin.status().message();
    EXPECT_EQ(*origin ? (*origin)->describe() : "", expected);
  }
  ASSERT_TRUE((*executor)->write(plan.functions(1).outputs(1), HostTensor::fromFloats({}, {1}))
                  .ok());
  nnc::StatusOr<bool> skipped = updateWasSkipped(**executor, *findUpdateGuard(plan));
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(*skipped);
}

} // namespace
} // namespace nnrt
