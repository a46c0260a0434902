// The `plan` dialect: the executable level of a compiled model. A `plan.plan` holds the arena's
// buffers (`plan.buffer`) and the plan's functions (`plan.func`), each a list of commands on
// slices of those buffers; nnc's plan phase lowers the post-codegen module into it, assigns the
// buffers' arena offsets and schedules pipeline stages as passes, then serializes it one op to
// one protobuf message (compiler/plan/PlanBuilder.cpp, proto/plan.proto).
#ifndef NNC_DIALECT_PLAN_DIALECT_TD
#define NNC_DIALECT_PLAN_DIALECT_TD

include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/OpBase.td"

def Plan_Dialect : Dialect {
  let name = "plan";
  let cppNamespace = "::nnc::plan";
  let summary = "Buffers, functions and commands of an executable plan";
  let useDefaultAttributePrinterParser = 1;
}

// A slice names its buffer and the tensor it holds: the command reads or writes
// byteSize(type) bytes from the buffer's offset. A view shares its source's buffer.
def Plan_SliceAttr : AttrDef<Plan_Dialect, "Slice"> {
  let mnemonic = "slice";
  let summary = "the bytes of a tensor in a buffer: buffer symbol and tensor type";
  let description = [{
    ```mlir
    #plan.slice<@t3 : tensor<8x16xf32>>
    ```
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$buffer, "::mlir::Type":$type);
  let assemblyFormat = "`<` $buffer `:` $type `>`";
  let extraClassDeclaration = [{
    /// The bytes the tensor takes (-1 when int64 cannot count them).
    int64_t getBytes() const;
  }];
}

def Plan_SliceArrayAttr : TypedArrayAttrBase<Plan_SliceAttr, "slice array">;

#endif // NNC_DIALECT_PLAN_DIALECT_TD
