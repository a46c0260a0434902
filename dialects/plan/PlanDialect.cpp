// The `plan` dialect's registration, the slice attribute's size and the ops' verifiers.
#include "dialects/plan/PlanDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace nnc::plan;

#include "dialects/plan/PlanDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/plan/PlanAttrs.cpp.inc"

#define GET_OP_CLASSES
#include "dialects/plan/PlanOps.cpp.inc"

void PlanDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/plan/PlanAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialects/plan/PlanOps.cpp.inc"
      >();
}

int64_t nnc::plan::byteSize(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  int64_t width = tensor.getElementTypeBitWidth(), count = 1, bytes;
  for (int64_t dim : tensor.getShape())
    if (llvm::MulOverflow(count, dim, count))
      return -1;
  if (width % 8 != 0) // sub-byte elements: count the bits
    return llvm::MulOverflow(count, width, bytes) ? -1 : bytes / 8;
  return llvm::MulOverflow(count, width / 8, bytes) ? -1 : bytes;
}

std::string nnc::plan::nodeName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  std::string joined;
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location part : fused.getLocations())
      if (auto name = dyn_cast<NameLoc>(part))
        joined += (joined.empty() ? "" : "+") + name.getName().str();
  return joined;
}

int64_t SliceAttr::getBytes() const { return byteSize(getType()); }

LogicalResult Conv2dOp::verify() {
  if (!llvm::is_contained({"forward", "backward_data", "backward_weights"}, getPass()))
    return emitOpError("expects pass forward, backward_data or backward_weights, not '")
           << getPass() << "'";
  if (getPass() == "backward_data" && getBias())
    return emitOpError("backward_data has no bias");
  if (getPass() == "backward_weights" && getBias() &&
      !cast<RankedTensorType>(getBias()->getType()).getElementType().isF32())
    return emitOpError("backward_weights writes dL/dbias in f32");
  if (getPass() != "forward" && getRelu())
    return emitOpError("a backward pass has no relu");
  return success();
}

LogicalResult PipelineActionOp::verify() {
  if (!llvm::is_contained({"forward", "backward", "send_activation", "recv_activation",
                           "send_gradient", "recv_gradient", "apply"},
                          getKind()))
    return emitOpError("expects a pipeline action kind, not '") << getKind() << "'";
  return success();
}

// ZeRO-1 (issue 20): the shard side of each command is a 1-D f32 slice, the whole side f32.
static LogicalResult verifyShardSlices(Operation *op, SliceAttr whole, SliceAttr shard) {
  auto wholeType = cast<RankedTensorType>(whole.getType());
  auto shardType = cast<RankedTensorType>(shard.getType());
  if (!wholeType.getElementType().isF32() || !shardType.getElementType().isF32() ||
      shardType.getRank() != 1)
    return op->emitOpError("expects an f32 tensor and a 1-D f32 shard, got ")
           << wholeType << " and " << shardType;
  return success();
}

LogicalResult ReduceScatterOp::verify() { return verifyShardSlices(*this, getSrc(), getDst()); }
LogicalResult AllGatherOp::verify() { return verifyShardSlices(*this, getDst(), getSrc()); }
LogicalResult TakeShardOp::verify() { return verifyShardSlices(*this, getSrc(), getDst()); }
