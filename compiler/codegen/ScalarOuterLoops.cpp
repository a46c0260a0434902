// LLVM's loop vectorizer sees only innermost loops, but it runs after full unrolling: a kernel
// whose inner loops are short (a pooling window's rows, 14 or 28 columns) is left with its
// channel loop innermost, which the vectorizer then takes across channels with gathers and
// scatters (3-8x slower here than the SLP-vectorized rows it replaces). Every loop that holds
// inner loops of 8 or more iterations is marked "do not vectorize" (llvm.loop.vectorize.enable
// false): where the inner loops stay, that changes nothing; where they unroll, the SLP vectorizer
// packs their contiguous elements instead.
#include "compiler/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace nnc {
#define GEN_PASS_DEF_MARKOUTERLOOPSSCALAR
#define GEN_PASS_DEF_MOVELOOPANNOTATIONS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// Inner loops of fewer iterations (a window's 2 columns) leave the outer loop's accesses a
/// small stride apart, which the loop vectorizer interleaves well: those stay vectorizable.
constexpr int64_t kFewestUnrolledElements = 8;

/// The discardable attribute that convert-scf-to-cf copies from an scf.for to its back edge.
constexpr llvm::StringLiteral kLoopAnnotation = "llvm.loop_annotation";

struct MarkOuterLoopsScalarPass
    : nnc::impl::MarkOuterLoopsScalarBase<MarkOuterLoopsScalarPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    auto vectorize = LLVM::LoopVectorizeAttr::get(ctx, /*disable=*/BoolAttr::get(ctx, true), {},
                                                  {}, {}, {}, {}, {});
    auto scalar = LLVM::LoopAnnotationAttr::get(ctx, {}, vectorize, {}, {}, {}, {}, {}, {}, {},
                                                {}, {}, {}, {}, {}, {});
    getOperation().walk([&](scf::ForOp loop) {
      if (innerIterations(loop) >= kFewestUnrolledElements)
        loop->setAttr(kLoopAnnotation, scalar);
    });
  }

  /// Iterations of the deepest nest inside `loop` (the product of their trip counts; a loop
  /// without a static count counts as many); 1 for a loop that holds none.
  static int64_t innerIterations(scf::ForOp loop) {
    int64_t most = 1;
    for (Operation &op : loop.getBody()->without_terminator())
      op.walk<WalkOrder::PreOrder>([&](scf::ForOp inner) {
        std::optional<int64_t> trips = constantTripCount(inner);
        most = std::max(most, trips ? *trips * innerIterations(inner) : kFewestUnrolledElements);
        return WalkResult::skip();
      });
    return most;
  }

  static std::optional<int64_t> constantTripCount(scf::ForOp loop) {
    std::optional<int64_t> lower = getConstantIntValue(loop.getLowerBound()),
                           upper = getConstantIntValue(loop.getUpperBound()),
                           step = getConstantIntValue(loop.getStep());
    if (!lower || !upper || !step || *step <= 0)
      return std::nullopt;
    return llvm::divideCeil(std::max<int64_t>(*upper - *lower, 0), *step);
  }
};

/// After convert-cf-to-llvm: the annotation becomes the llvm.br's own, which the translation to
/// LLVM IR emits as !llvm.loop metadata.
struct MoveLoopAnnotationsPass : nnc::impl::MoveLoopAnnotationsBase<MoveLoopAnnotationsPass> {
  void runOnOperation() override {
    getOperation().walk([](LLVM::BrOp br) {
      if (auto annotation = br->getAttrOfType<LLVM::LoopAnnotationAttr>(kLoopAnnotation)) {
        br->removeAttr(kLoopAnnotation);
        br.setLoopAnnotationAttr(annotation);
      }
    });
  }
};

} // namespace
