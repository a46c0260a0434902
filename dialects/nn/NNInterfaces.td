// Interfaces of the `nn` dialect.
#ifndef NNC_DIALECT_NN_INTERFACES_TD
#define NNC_DIALECT_NN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def NN_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::nnc::nn";
  let description = [{
    An op that knows its vector-Jacobian product, written with `nn` ops so that later passes
    optimize the backward pass like the forward one. The autodiff pass calls it in reverse order;
    an op without this interface on the gradient path is an error naming the user's node.
  }];
  let methods = [
    InterfaceMethod<[{
        Given the gradient of the loss with respect to the op's (single) result, builds the
        gradients with respect to its operands at the builder's insertion point: one entry per
        operand, null where the operand has no gradient (class labels, for example). Fails,
        after a diagnostic at the op, for a case it does not support.
      }],
      "::llvm::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::Value":$resultGrad,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // NNC_DIALECT_NN_INTERFACES_TD
