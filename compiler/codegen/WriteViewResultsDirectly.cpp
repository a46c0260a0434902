// Kernels whose result is a view-like op (slice, concatenation, pad) build it in the result buffer
// the plan passes them, instead of in a temporary buffer copied there.
#include "compiler/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace nnc {
#define GEN_PASS_DEF_WRITEVIEWRESULTSDIRECTLY
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// A kernel whose result is a slice, a concatenation or a zero pad (no destination of its own)
/// would bufferize into a temporary buffer, copied to the result buffer afterwards. Here it gets
/// the result buffer as a trailing argument, where the plan's calling convention already passes
/// it, and writes into it directly: one copy, of rows that split across threads.
void writeViewResultsDirectly(func::FuncOp kernel) {
  if (kernel.getNumResults() != 1)
    return;
  auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
  Operation *def = ret.getOperand(0).getDefiningOp();
  auto pad = dyn_cast_or_null<tensor::PadOp>(def);
  bool staticPad = pad && pad.getConstantPaddingValue() && pad.getType().hasStaticShape() &&
                   !ShapedType::isDynamicShape(pad.getStaticLow());
  // A concatenation of many parts (find_nonfinite's hundreds of one-element checks) stays:
  // the bufferization analysis of a long insert_slice chain takes quadratic time.
  auto concat = dyn_cast_or_null<tensor::ConcatOp>(def);
  if (!isa_and_nonnull<tensor::ExtractSliceOp>(def) && !staticPad &&
      !(concat && concat.getInputs().size() <= 16))
    return;
  auto type = cast<RankedTensorType>(def->getResult(0).getType());
  unsigned index = kernel.getNumArguments();
  OpBuilder b(ret);
  (void)kernel.insertArgument(
      index, type,
      b.getDictionaryAttr(b.getNamedAttr(bufferization::BufferizationDialect::kWritableAttrName,
                                         b.getBoolAttr(true))),
      kernel.getLoc());
  Value out = kernel.getArgument(index);
  Location loc = def->getLoc();
  auto insert = [&](Value part, Value into, ArrayRef<int64_t> offsets) {
    auto partType = cast<RankedTensorType>(part.getType());
    SmallVector<int64_t> strides(partType.getRank(), 1);
    return tensor::InsertSliceOp::create(b, loc, part, into, ValueRange(), ValueRange(),
                                         ValueRange(), offsets, partType.getShape(), strides)
        .getResult();
  };
  Value result;
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(def)) {
    result = linalg::CopyOp::create(b, loc, slice.getResult(), out).getResult(0);
  } else if (concat) {
    SmallVector<int64_t> offsets(type.getRank(), 0);
    result = out;
    for (Value part : concat.getInputs()) {
      result = insert(part, result, offsets);
      int64_t axis = concat.getDim();
      offsets[axis] += cast<RankedTensorType>(part.getType()).getDimSize(axis);
    }
  } else {
    result = linalg::FillOp::create(b, loc, pad.getConstantPaddingValue(), out).getResult(0);
    result = insert(pad.getSource(), result, pad.getStaticLow());
  }
  ret.setOperand(0, result);
  if (def->use_empty())
    def->erase();
}

struct WriteViewResultsDirectlyPass
    : nnc::impl::WriteViewResultsDirectlyBase<WriteViewResultsDirectlyPass> {
  void runOnOperation() override {
    for (auto kernel : getOperation().getOps<func::FuncOp>())
      writeViewResultsDirectly(kernel);
  }
};

} // namespace
