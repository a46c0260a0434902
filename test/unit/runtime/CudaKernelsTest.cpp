// The cuda driver's host-side logic, which needs no GPU: checking a plan's CudaKernelLibrary
// against the executor's symbols and packing cuLaunchKernel's parameters.
#include "runtime/device/cuda/CudaKernels.h"

#include "support/Checksum.h"

#include <gtest/gtest.h>

namespace nnrt::cuda {
namespace {

nnc::CudaLaunch *addLaunch(nnc::CudaKernel *kernel, const std::string &function,
                           std::array<uint32_t, 3> grid, std::array<uint32_t, 3> block,
                           std::vector<uint32_t> args) {
  nnc::CudaLaunch *launch = kernel->add_launches();
  launch->set_function(function);
  for (uint32_t g : grid)
    launch->add_grid(g);
  for (uint32_t b : block)
    launch->add_block(b);
  for (uint32_t a : args)
    launch->add_args(a);
  return launch;
}

/// Two kernels as the compiler records them: a fill then a row reduction, and one elementwise
/// launch.
nnc::CudaKernelLibrary sampleLibrary() {
  nnc::CudaKernelLibrary library;
  library.set_ptx(".version 8.0\n.target sm_90\n");
  library.set_arch("sm_90");
  nnc::CudaKernel *reduce = library.add_kernels();
  reduce->set_symbol("nnc_k0_loss");
  addLaunch(reduce, "k0_loss_kernel", {1, 1, 1}, {128, 1, 1}, {1});
  addLaunch(reduce, "k0_loss_kernel_0", {1, 1, 1}, {128, 1, 1}, {0, 1});
  nnc::CudaKernel *add = library.add_kernels();
  add->set_symbol("nnc_k1_act");
  addLaunch(add, "k1_act_kernel", {1, 32, 1}, {128, 2, 1}, {2, 0, 1});
  return library;
}

std::string bytesOf(const nnc::CudaKernelLibrary &library) {
  return nnc::serializeDeterministic(library);
}

TEST(CudaKernelsTest, ResolvesSymbolsInRequestedOrder) {
  auto parsed = parseKernelLibrary(bytesOf(sampleLibrary()), {"nnc_k1_act", "nnc_k0_loss"});
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->arch, "sm_90");
  EXPECT_EQ(parsed->ptx, ".version 8.0\n.target sm_90\n");
  ASSERT_EQ(parsed->kernels.size(), 2u);
  EXPECT_EQ(parsed->kernels[0].symbol, "nnc_k1_act");
  ASSERT_EQ(parsed->kernels[0].launches.size(), 1u);
  const LaunchSpec &launch = parsed->kernels[0].launches[0];
  EXPECT_EQ(launch.function, "k1_act_kernel");
  EXPECT_EQ(launch.grid, (std::array<uint32_t, 3>{1, 32, 1}));
  EXPECT_EQ(launch.block, (std::array<uint32_t, 3>{128, 2, 1}));
  EXPECT_EQ(launch.args, (std::vector<uint32_t>{2, 0, 1}));
  EXPECT_EQ(launch.argsNeeded, 3u);
  ASSERT_EQ(parsed->kernels[1].launches.size(), 2u);
  EXPECT_EQ(parsed->kernels[1].launches[1].function, "k0_loss_kernel_0");
}

TEST(CudaKernelsTest, PacksPointersToTheArgumentSlots) {
  LaunchSpec launch;
  launch.function = "k";
  launch.args = {2, 0, 1, 0};
  launch.argsNeeded = 3;
  void *args[3] = {reinterpret_cast<void *>(0x1000), reinterpret_cast<void *>(0x2000),
                   reinterpret_cast<void *>(0x3000)};
  std::vector<void *> params;
  ASSERT_TRUE(packLaunchParams(launch, args, 3, params).ok());
  ASSERT_EQ(params.size(), 4u);
  // cuLaunchKernel reads each parameter's bytes through these pointers: the device addresses.
  EXPECT_EQ(params[0], &args[2]);
  EXPECT_EQ(params[1], &args[0]);
  EXPECT_EQ(params[2], &args[1]);
  EXPECT_EQ(params[3], &args[0]);
  EXPECT_EQ(*static_cast<void **>(params[0]), reinterpret_cast<void *>(0x3000));
  // Reused scratch shrinks to the launch's arity.
  launch.args = {1};
  launch.argsNeeded = 2;
  ASSERT_TRUE(packLaunchParams(launch, args, 3, params).ok());
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0], &args[1]);
}

TEST(CudaKernelsTest, RefusesAnArgumentTheCallLacks) {
  LaunchSpec launch;
  launch.function = "k2_fc1_kernel";
  launch.args = {0, 3};
  launch.argsNeeded = 4;
  void *args[2] = {};
  std::vector<void *> params;
  nnc::Status s = packLaunchParams(launch, args, 2, params);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "launch of 'k2_fc1_kernel' needs argument 3 but the call has 2");
}

TEST(CudaKernelsTest, RefusesAMissingSymbol) {
  auto parsed = parseKernelLibrary(bytesOf(sampleLibrary()), {"nnc_k0_loss", "nnc_k9_fc2"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "kernel library does not export 'nnc_k9_fc2'");
}

TEST(CudaKernelsTest, RefusesACpuLibrary) {
  for (std::string image : {std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10), std::string()}) {
    auto parsed = parseKernelLibrary(image, {"nnc_k0_loss"});
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().message(),
              "the kernel library is not CUDA code (was the plan compiled with 'nnc compile "
              "--target cuda'?)");
  }
}

TEST(CudaKernelsTest, RefusesLaunchesOutsideCudaLimits) {
  struct Case {
    std::array<uint32_t, 3> grid, block;
    std::string message;
  };
  const Case cases[] = {
      {{0, 1, 1}, {32, 1, 1}, "grid (0, 1, 1) and block (32, 1, 1), outside CUDA's limits"},
      {{1, 70000, 1}, {32, 1, 1}, "grid (1, 70000, 1) and block (32, 1, 1), outside CUDA's limits"},
      {{1, 1, 1}, {32, 1, 65}, "grid (1, 1, 1) and block (32, 1, 65), outside CUDA's limits"},
      {{1, 1, 1}, {64, 32, 1}, "2048 threads per block, more than CUDA's 1024"},
  };
  for (const Case &c : cases) {
    nnc::CudaKernelLibrary library = sampleLibrary();
    nnc::CudaLaunch *launch = library.mutable_kernels(1)->mutable_launches(0);
    for (int i = 0; i < 3; ++i) {
      launch->set_grid(i, c.grid[i]);
      launch->set_block(i, c.block[i]);
    }
    auto parsed = parseKernelLibrary(bytesOf(library), {"nnc_k1_act"});
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().message(), "kernel 'nnc_k1_act': launch of 'k1_act_kernel' has " +
                                             c.message);
  }
  nnc::CudaKernelLibrary library = sampleLibrary();
  library.mutable_kernels(0)->mutable_launches(0)->clear_block();
  auto parsed = parseKernelLibrary(bytesOf(library), {"nnc_k0_loss"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            "kernel 'nnc_k0_loss': launch of 'k0_loss_kernel' needs 3 grid and 3 block dimensions");
}

TEST(CudaKernelsTest, RefusesLaunchesWithoutPtx) {
  nnc::CudaKernelLibrary library = sampleLibrary();
  library.clear_ptx();
  auto parsed = parseKernelLibrary(bytesOf(library), {"nnc_k0_loss"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "kernel library has launches but no PTX");
  // A library no launch needs may lack it: a plan whose kernels all vanished.
  library.mutable_kernels(0)->clear_launches();
  EXPECT_TRUE(parseKernelLibrary(bytesOf(library), {"nnc_k0_loss"}).ok());
}

TEST(CudaKernelsTest, RefusesADuplicateSymbol) {
  nnc::CudaKernelLibrary library = sampleLibrary();
  library.mutable_kernels(1)->set_symbol("nnc_k0_loss");
  auto parsed = parseKernelLibrary(bytesOf(library), {"nnc_k0_loss"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "kernel library defines 'nnc_k0_loss' twice");
}

} // namespace
} // namespace nnrt::cuda
