// Identical kernels compiled once: @predict, @eval_step, @train_step and @find_nonfinite repeat
// the forward pass, and layers of one shape repeat their elementwise work, so outlining leaves
// many kernel functions that differ only in name. Codegen time grows with the kernels, so each
// duplicate's calls move to the first of its kind and the duplicate goes.
//
// 1. Bucket the kernels by a hash of their type and ops (locations ignored).
// 2. Within a bucket, compare bodies exactly (OperationEquivalence) and argument attributes.
// 3. Point every call of a duplicate at the kept kernel, in one walk of the module (a walk per
//    duplicate made this pass quadratic in model size), and erase the duplicates.
#include "compiler/Passes.h"
#include "dialects/AttrNames.h"

#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/DenseMap.h"

namespace nnc {
#define GEN_PASS_DEF_DEDUPKERNELS
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

llvm::hash_code hashKernel(func::FuncOp kernel) {
  llvm::hash_code hash = hash_value(kernel.getFunctionType());
  kernel.getBody().walk([&](Operation *op) {
    hash = llvm::hash_combine(
        hash, OperationEquivalence::computeHash(op, OperationEquivalence::ignoreHashValue,
                                                OperationEquivalence::ignoreHashValue,
                                                OperationEquivalence::IgnoreLocations));
  });
  return hash;
}

bool sameKernel(func::FuncOp a, func::FuncOp b) {
  return a.getFunctionType() == b.getFunctionType() && a.getAllArgAttrs() == b.getAllArgAttrs() &&
         a.getAllResultAttrs() == b.getAllResultAttrs() &&
         OperationEquivalence::isRegionEquivalentTo(&a.getBody(), &b.getBody(),
                                                    OperationEquivalence::IgnoreLocations);
}

struct DedupKernelsPass : nnc::impl::DedupKernelsBase<DedupKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::DenseMap<llvm::hash_code, SmallVector<func::FuncOp>> kept;
    SmallVector<func::FuncOp> duplicates;
    llvm::DenseMap<StringAttr, FlatSymbolRefAttr> keptName; // duplicate's name -> kept kernel
    for (auto kernel : module.getOps<func::FuncOp>()) {
      if (!kernel->hasAttr(nnc::attr::kKernel))
        continue;
      SmallVector<func::FuncOp> &bucket = kept[hashKernel(kernel)];
      auto same = llvm::find_if(bucket, [&](func::FuncOp k) { return sameKernel(k, kernel); });
      if (same == bucket.end()) {
        bucket.push_back(kernel);
        continue;
      }
      duplicates.push_back(kernel);
      keptName[kernel.getSymNameAttr()] = FlatSymbolRefAttr::get(same->getSymNameAttr());
    }
    if (duplicates.empty())
      return;
    // Kernels are top-level symbols of this module: only flat references name them.
    AttrTypeReplacer replacer;
    replacer.addReplacement([&](FlatSymbolRefAttr ref) -> std::optional<Attribute> {
      auto it = keptName.find(ref.getAttr());
      return it == keptName.end() ? std::optional<Attribute>() : it->second;
    });
    module.walk([&](Operation *op) { replacer.replaceElementsIn(op, /*replaceAttrs=*/true); });
    for (func::FuncOp duplicate : duplicates)
      duplicate.erase();
  }
};

} // namespace
