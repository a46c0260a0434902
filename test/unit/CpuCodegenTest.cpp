// The CPU library builder (compiler/codegen/CpuCodegen.cpp) on hand-written lowered kernels: the
// kernels the plan builder copies after codegen, and a module codegen did not run on.
#include "compiler/Registration.h"
#include "compiler/codegen/CpuCodegen.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

namespace {

/// @k0_in_place is the plan builder's copy of @k0 (PlanBuilder.cpp's in-place updates), made
/// after the codegen pipeline lowered @k0 into the nested module.
constexpr const char *kCopiedKernel = R"mlir(
module {
  func.func private @k0_in_place(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel, nnc.in_place = array<i64: 0>} {
    %r = linalg.copy ins(%x : tensor<4xf32>) outs(%out : tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  func.func private @k0(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.copy ins(%x : tensor<4xf32>) outs(%out : tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  func.func private @k1(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.copy ins(%out : tensor<4xf32>) outs(%x : tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  module attributes {nnc.kernels} {
    llvm.func @k0(%arg0: !llvm.ptr, %arg1: !llvm.ptr) attributes {nnc.kernel, sym_visibility = "private"} {
      %v = llvm.load %arg0 : !llvm.ptr -> f32
      llvm.store %v, %arg1 : f32, !llvm.ptr
      llvm.return
    }
    llvm.func @k1(%arg0: !llvm.ptr, %arg1: !llvm.ptr) attributes {nnc.kernel, sym_visibility = "private"} {
      llvm.return
    }
  }
}
)mlir";

struct CpuCodegenTest : ::testing::Test {
  CpuCodegenTest() {
    nnc::registerDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }
  mlir::DialectRegistry registry;
  mlir::MLIRContext context;
};

TEST_F(CpuCodegenTest, CompilesCopiesOfLoweredKernels) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kCopiedKernel, &context);
  ASSERT_TRUE(module);
  std::string library;
  ASSERT_TRUE(mlir::succeeded(nnc::compileKernels(*module, nnc::hostCpuTarget(), library)));
  // The entries' names are in the library's dynamic symbol table.
  EXPECT_NE(library.find(std::string(nnc::kKernelEntryPrefix) + "k0_in_place"), std::string::npos);
  EXPECT_NE(library.find(std::string(nnc::kKernelEntryPrefix) + "k1"), std::string::npos);
  EXPECT_EQ(library.compare(0, 4, "\x7f" "ELF"), 0);
}

/// @k2 has no lowered form and no lowered kernel computes what it does.
constexpr const char *kUnloweredKernel = R"mlir(
module {
  func.func private @k2(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.copy ins(%x : tensor<4xf32>) outs(%out : tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  func.func private @k1(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
    %r = linalg.copy ins(%out : tensor<4xf32>) outs(%x : tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
  module attributes {nnc.kernels} {
    llvm.func @k1(%arg0: !llvm.ptr, %arg1: !llvm.ptr) attributes {nnc.kernel, sym_visibility = "private"} {
      llvm.return
    }
  }
}
)mlir";

TEST_F(CpuCodegenTest, RefusesAKernelWithoutLoweredForm) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kUnloweredKernel, &context);
  ASSERT_TRUE(module);
  std::string library, diagnostic;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostic = d.str();
    return mlir::success();
  });
  EXPECT_TRUE(mlir::failed(nnc::compileKernels(*module, nnc::hostCpuTarget(), library)));
  EXPECT_EQ(diagnostic, "kernel k2 was not lowered by codegen");
}

TEST_F(CpuCodegenTest, RefusesAModuleCodegenDidNotRunOn) {
  auto module = mlir::parseSourceString<mlir::ModuleOp>("module {}", &context);
  ASSERT_TRUE(module);
  std::string library, diagnostic;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    diagnostic = d.str();
    return mlir::success();
  });
  EXPECT_TRUE(mlir::failed(nnc::compileKernels(*module, nnc::hostCpuTarget(), library)));
  EXPECT_EQ(diagnostic, "the kernels were not lowered: run the codegen pipeline first");
  EXPECT_FALSE(nnc::loweredKernels(*module));
}

} // namespace
