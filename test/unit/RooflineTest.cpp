// The roofline estimate (compiler/plan/Roofline.h) on hand-built plan functions: each command
// takes max(flops / peak, bytes / bandwidth), against the values worked out by hand below.
#include "compiler/plan/Roofline.h"

#include "proto/plan.pb.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

namespace {

const nnc::GpuPeaks kH100 = {"H100 SXM", 67e12, 990e12, 3.35e12};

/// A kernel function of 1000 elements whose body has two ops (mul, add): 2000 FLOPs.
constexpr const char *kKernelModule = R"mlir(
#map = affine_map<(d0) -> (d0)>
func.func private @k0_axpy(%x: tensor<1000xf32>, %out: tensor<1000xf32>) -> tensor<1000xf32>
    attributes {nnc.kernel} {
  %c = arith.constant 2.0 : f32
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%x : tensor<1000xf32>) outs(%out : tensor<1000xf32>) {
  ^bb0(%in: f32, %o: f32):
    %1 = arith.mulf %in, %c : f32
    %2 = arith.addf %1, %o : f32
    linalg.yield %2 : f32
  } -> tensor<1000xf32>
  return %0 : tensor<1000xf32>
}
)mlir";

struct RooflineTest : ::testing::Test {
  RooflineTest() {
    context.loadDialect<mlir::arith::ArithDialect, mlir::func::FuncDialect,
                        mlir::linalg::LinalgDialect, mlir::tensor::TensorDialect>();
    module = mlir::parseSourceString<mlir::ModuleOp>(kKernelModule, &context);
  }
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

nnc::Gemm *addGemm(nnc::Function &function, int64_t size, nnc::DType dtype, int64_t elementBytes) {
  nnc::Gemm *gemm = function.add_commands()->mutable_gemm();
  gemm->set_m(size);
  gemm->set_n(size);
  gemm->set_k(size);
  gemm->set_dtype(dtype);
  for (nnc::Slice *slice : {gemm->mutable_a(), gemm->mutable_b(), gemm->mutable_c()})
    slice->set_size(size * size * elementBytes);
  return gemm;
}

TEST_F(RooflineTest, Fp32GemmIsComputeBoundOnCudaCores) {
  nnc::Function function;
  addGemm(function, 1024, nnc::F32, 4);
  nnc::RooflineEstimate e = nnc::estimateRoofline(function, *module, {}, kH100);
  // 2 * 1024^3 FLOPs at 67 TFLOP/s: 32.05 us; 12.6 MB at 3.35 TB/s would be 3.76 us.
  EXPECT_NEAR(e.librarySeconds, 2.0 * 1024 * 1024 * 1024 / 67e12, 1e-12);
  EXPECT_EQ(e.libraryCalls, 1);
  EXPECT_EQ(e.launches, 0);
}

TEST_F(RooflineTest, Bf16GemmUsesTensorCorePeak) {
  nnc::Function function;
  addGemm(function, 1024, nnc::BF16, 2);
  nnc::RooflineEstimate e = nnc::estimateRoofline(function, *module, {}, kH100);
  // 2.15 GFLOP at 990 TFLOP/s: 2.17 us, above the 6.3 MB at 3.35 TB/s (1.88 us).
  EXPECT_NEAR(e.librarySeconds, 2.0 * 1024 * 1024 * 1024 / 990e12, 1e-12);
}

TEST_F(RooflineTest, KernelIsMemoryBoundFromItsLaunches) {
  nnc::Function function;
  function.add_commands()->mutable_kernel()->set_symbol("nnc_k0_axpy");
  nnc::CudaLaunchStat launch;
  launch.kernel = "nnc_k0_axpy";
  launch.bytes = 8000; // the two buffers of 1000 floats
  nnc::RooflineEstimate e = nnc::estimateRoofline(function, *module, {launch, launch}, kH100);
  // Two launches of 8000 bytes: 16000 B / 3.35 TB/s = 4.78 ns, above 2000 FLOPs / 67 TFLOP/s.
  EXPECT_NEAR(e.kernelSeconds, 16000 / 3.35e12, 1e-15);
  EXPECT_EQ(e.launches, 2);
}

TEST_F(RooflineTest, KernelFlopsCountEachBodyOpPerIteration) {
  nnc::Function function;
  function.add_commands()->mutable_kernel()->set_symbol("nnc_k0_axpy");
  nnc::CudaLaunchStat launch;
  launch.kernel = "nnc_k0_axpy";
  launch.bytes = 8;
  // A GPU slow enough at arithmetic for the 2000 FLOPs to dominate: 1 GFLOP/s -> 2 us.
  nnc::GpuPeaks slow = {"slow", 1e9, 1e9, 3.35e12};
  nnc::RooflineEstimate e = nnc::estimateRoofline(function, *module, {launch}, slow);
  EXPECT_NEAR(e.kernelSeconds, 2000 / 1e9, 1e-15);
}

TEST_F(RooflineTest, PrintsBothGpus) {
  nnc::Function function;
  addGemm(function, 1024, nnc::F32, 4);
  std::string line = nnc::printRoofline(function, *module, {});
  EXPECT_EQ(line, "roofline on CUDA: 32.1 us on H100 SXM, 32.1 us on H200 (0 launches 0.0 us, "
                  "1 library calls 32.1 us on H100 SXM; launch latency not included)");
}

} // namespace
