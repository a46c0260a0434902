// The `plan` dialect: buffers, functions and commands of an executable plan (see PlanOps.td).
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"

#include "dialects/plan/PlanDialect.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/plan/PlanAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/plan/PlanOps.h.inc"

namespace nnc::plan {
/// The byte size of a ranked tensor type, or -1 when int64 cannot count it.
int64_t byteSize(mlir::Type type);
/// The user's node an op computes: its NameLoc, or the names of a fused location joined by '+'.
std::string nodeName(mlir::Location loc);
} // namespace nnc::plan
