// Mixed precision (see Passes.td): each float nn op computes in the policy's low type unless it
// is on the fp32 allow-list; train ops compute in fp32. Runs after autodiff, so the forward and
// backward ops of @train_step both follow the policy, and the gradients reach the fp32
// optimizer through a cast.
#include "dialects/nn/NNDialect.h"
#include "dialects/train/TrainDialect.h"

#include "compiler/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace nnc {
#define GEN_PASS_DEF_PRECISION
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;
using namespace nnc;

namespace {

constexpr const char *kDefaultFp32Ops[] = {"softmax",  "log_softmax", "layer_norm",
                                           "cross_entropy", "mse_loss", "reduce_sum",
                                           "reduce_mean", "reduce_max"};

bool isFloatTensor(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && isa<FloatType>(type.getElementType());
}

/// The operands an op computes with: dropout's step number and key only seed its generator.
OperandRange dataOperands(Operation *op) {
  if (auto dropout = dyn_cast<nn::DropoutOp>(op))
    return op->getOperands().take_front(1);
  return op->getOperands();
}

struct PrecisionPass : nnc::impl::PrecisionBase<PrecisionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto spec = module->getAttrOfType<DictionaryAttr>("nn.training");
    auto precision = spec ? spec.getAs<DictionaryAttr>("precision") : DictionaryAttr();
    auto kind = precision ? precision.getAs<StringAttr>("kind") : StringAttr();
    if (!kind || kind.getValue() == "fp32")
      return;
    Builder types(&getContext());
    Type low = kind.getValue() == "bf16" ? Type(types.getBF16Type()) : types.getF16Type();
    llvm::StringSet<> fp32Ops;
    if (auto list = precision.getAs<ArrayAttr>("fp32_ops"))
      for (Attribute name : list)
        fp32Ops.insert(cast<StringAttr>(name).getValue());
    if (fp32Ops.empty())
      for (const char *name : kDefaultFp32Ops)
        fp32Ops.insert(name);
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(convert(func, low, fp32Ops)))
        return signalPassFailure();
  }

  LogicalResult convert(func::FuncOp func, Type low, const llvm::StringSet<> &fp32Ops) {
    OpBuilder b(&getContext());
    Type f32 = b.getF32Type();
    // One cast per (value, type), placed right after the value's definition.
    llvm::DenseMap<std::pair<Value, Type>, Value> casts;
    auto castTo = [&](Value v, Type element) -> Value {
      if (cast<RankedTensorType>(v.getType()).getElementType() == element)
        return v;
      Value &slot = casts[{v, element}];
      if (!slot) {
        OpBuilder::InsertionGuard guard(b);
        if (Operation *def = v.getDefiningOp())
          b.setInsertionPointAfter(def);
        else
          b.setInsertionPointToStart(cast<BlockArgument>(v).getOwner());
        slot = nn::CastOp::create(b, v.getLoc(), v, element);
      }
      return slot;
    };
    llvm::DenseMap<Location, StringRef> nodeKind;
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (isa<nn::NNDialect, train::TrainDialect>(op->getDialect()) && !isa<nn::CastOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      bool isTrain = isa<train::TrainDialect>(op->getDialect());
      // fp32 for allow-listed ops, and for every op of an allow-listed node: a backward op
      // follows its forward op, the first op at its node (VJPs are built at the forward op's
      // location), so the gradient of an fp32 softmax is computed in fp32 too.
      StringRef name = op->getName().stripDialect(), node = name;
      if (isa<NameLoc>(op->getLoc()))
        node = nodeKind.try_emplace(op->getLoc(), name).first->second;
      Type compute = isTrain || fp32Ops.contains(name) || fp32Ops.contains(node) ? f32 : low;
      for (OpOperand &operand : op->getOpOperands())
        if (isFloatTensor(operand.get()) && operand.getOperandNumber() < dataOperands(op).size())
          operand.set(castTo(operand.get(), compute));
      // Operands may have changed type upstream too, so every op's results are re-inferred.
      if (failed(reinferResultTypes(op)))
        return failure();
    }
    // The function's interface keeps fp32: results computed in low precision are cast back.
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    FunctionType type = func.getFunctionType();
    for (OpOperand &operand : ret->getOpOperands()) {
      Type expected = type.getResult(operand.getOperandNumber());
      if (operand.get().getType() != expected)
        operand.set(castTo(operand.get(), cast<RankedTensorType>(expected).getElementType()));
    }
    return success();
  }

  /// Sets `op`'s result types to what its (inferring) op class says for the new operands.
  LogicalResult reinferResultTypes(Operation *op) {
    auto infer = dyn_cast<InferTypeOpInterface>(op);
    if (!infer)
      return op->emitError("precision: cannot re-infer the result types of ") << op->getName();
    SmallVector<Type> results;
    if (failed(infer.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                      op->getAttrDictionary(), op->getPropertiesStorage(),
                                      op->getRegions(), results)))
      return failure();
    for (auto [result, type] : llvm::zip(op->getResults(), results))
      result.setType(type);
    return success();
  }
};

} // namespace
