// Attributes of the `nn` dialect: the training spec a module carries (`nn.training`) and the
// enums it holds, so that passes read typed fields and a misspelled or mistyped field is a parse
// or verifier error, not a lookup that silently finds nothing.
#ifndef NNC_DIALECT_NN_ATTRS_TD
#define NNC_DIALECT_NN_ATTRS_TD

include "dialects/nn/NNDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def NN_OptimizerKind : I32EnumAttr<"OptimizerKind", "optimizer of the training spec", [
    I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"sgd", 1>, I32EnumAttrCase<"adam", 2>,
    I32EnumAttrCase<"adamw", 3>]> {
  let cppNamespace = "::nnc::nn";
  let genSpecializedAttr = 0;
}

def NN_PrecisionKind : I32EnumAttr<"PrecisionKind", "compute precision of the training step", [
    I32EnumAttrCase<"fp32", 0>, I32EnumAttrCase<"fp16", 1>, I32EnumAttrCase<"bf16", 2>]> {
  let cppNamespace = "::nnc::nn";
  let genSpecializedAttr = 0;
}

// The kinds an op attribute chooses between: a misspelled kind is a parse error.
def NN_Activation : I32EnumAttr<"Activation", "activation fused into a contraction", [
    I32EnumAttrCase<"relu", 0>]> {
  let cppNamespace = "::nnc::nn";
  let genSpecializedAttr = 0;
}
def NN_ActivationAttr : EnumAttr<NN_Dialect, NN_Activation, "activation">;

def NN_Approximation : I32EnumAttr<"Approximation", "GELU formula", [
    I32EnumAttrCase<"none", 0>, I32EnumAttrCase<"tanh", 1>]> {
  let cppNamespace = "::nnc::nn";
  let genSpecializedAttr = 0;
}
def NN_ApproximationAttr : EnumAttr<NN_Dialect, NN_Approximation, "approximation">;

def NN_Reduction : I32EnumAttr<"Reduction", "how a loss combines its positions", [
    I32EnumAttrCase<"mean", 0>, I32EnumAttrCase<"sum", 1>]> {
  let cppNamespace = "::nnc::nn";
  let genSpecializedAttr = 0;
}
def NN_ReductionAttr : EnumAttr<NN_Dialect, NN_Reduction, "reduction">;

// An enum parameter that is left out of the printed form at its default.
class NN_EnumParameter<EnumAttrInfo info, string value> : EnumParameter<info> {
  let defaultValue = info.cppType # "::" # value;
}

def NN_TrainingSpecAttr : AttrDef<NN_Dialect, "TrainingSpec"> {
  let mnemonic = "training";
  let summary = "how the module is trained: the TrainingSpec fields the compiler reads";
  let description = [{
    The module attribute `nn.training`, one field per TrainingSpec field (proto/model.proto) that
    a pass reads, with the proto's names; fields left at their default are not printed. The
    learning-rate schedule, epochs, seed, metrics and early stopping go to the plan from the
    model itself and are not part of the IR.

    ```mlir
    module attributes {nn.training = #nn.training<loss = "loss", optimizer = adamw,
        learning_rate = 1.0e-03 : f64, weight_decay = 1.0e-02 : f64, grad_clip_norm = 1.0 : f64,
        precision = bf16, accumulation_steps = 4>}
    ```
  }];
  let parameters = (ins
    "mlir::StringAttr":$loss,
    NN_EnumParameter<NN_OptimizerKind, "none">:$optimizer,
    OptionalParameter<"mlir::FloatAttr">:$learning_rate,
    OptionalParameter<"mlir::FloatAttr">:$momentum,
    OptionalParameter<"mlir::BoolAttr">:$nesterov,
    OptionalParameter<"mlir::FloatAttr">:$beta1,
    OptionalParameter<"mlir::FloatAttr">:$beta2,
    OptionalParameter<"mlir::FloatAttr">:$epsilon,
    OptionalParameter<"mlir::FloatAttr">:$weight_decay,
    OptionalParameter<"mlir::BoolAttr">:$decay_all_parameters,
    OptionalParameter<"mlir::FloatAttr">:$grad_clip_norm,
    NN_EnumParameter<NN_PrecisionKind, "fp32">:$precision,
    OptionalParameter<"mlir::FloatAttr">:$initial_loss_scale,
    DefaultValuedParameter<"int64_t", "0">:$growth_interval,
    OptionalParameter<"mlir::ArrayAttr">:$fp32_ops,
    OptionalParameter<"mlir::FloatAttr">:$min_loss_scale,
    DefaultValuedParameter<"int64_t", "0">:$accumulation_steps,
    DefaultValuedParameter<"int64_t", "0">:$world_size,
    DefaultValuedParameter<"int64_t", "0">:$bucket_bytes,
    DefaultValuedParameter<"int64_t", "0">:$pipeline_stages,
    DefaultValuedParameter<"int64_t", "0">:$micro_batches,
    OptionalParameter<"mlir::ArrayAttr">:$stage_boundaries);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// `attr`'s value, or `fallback` where the spec leaves the field unset (or 0, which the
    /// TrainingSpec reads as its default).
    static double valueOr(mlir::FloatAttr attr, double fallback) {
      return attr && attr.getValueAsDouble() != 0 ? attr.getValueAsDouble() : fallback;
    }
    static bool isSet(mlir::BoolAttr attr) { return attr && attr.getValue(); }
    /// This spec with accumulation_steps replaced (a pipeline stage accumulates micro-batches).
    TrainingSpecAttr withAccumulationSteps(int64_t steps) const;
  }];
}

#endif // NNC_DIALECT_NN_ATTRS_TD
