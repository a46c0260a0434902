// The `nn` dialect: tensor-level neural-network ops with value semantics.
#ifndef NNC_DIALECT_NN_TD
#define NNC_DIALECT_NN_TD

include "mlir/IR/OpBase.td"

def NN_Dialect : Dialect {
  let name = "nn";
  let cppNamespace = "::nnc::nn";
  let summary = "Tensor-level neural-network ops for model definition and autodiff";
  let description = [{
    Ops over statically shaped tensors of f32, f16 or bf16 (integer i32/i64 tensors carry class
    labels and token ids). Every op infers its result type from its operands and attributes and
    rejects shapes and dtypes that do not fit, so the importer catches a user's shape error at the
    node that makes it. Feature and class dimensions are last; images are NCHW.
  }];
  let hasConstantMaterializer = 1;
  // The training spec (NNAttrs.td) and the `nn.*` function-boundary attributes (AttrNames.h).
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
}

// Element-type and shape constraints shared by the ops.
def NN_FloatTensor : StaticShapeTensorOf<[F32, F16, BF16]>;
def NN_IndexTensor : StaticShapeTensorOf<[I32, I64]>;
def NN_Tensor : StaticShapeTensorOf<[F32, F16, BF16, I32, I64]>;

#endif // NNC_DIALECT_NN_TD
