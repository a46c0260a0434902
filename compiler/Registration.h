// The dialects and passes nnc uses, registered explicitly (no registerAllDialects): smaller
// binaries, faster links, and nnc-opt sees exactly what nnc compiles with.
#pragma once

namespace mlir {
class DialectRegistry;
}

namespace nnc {
void registerDialects(mlir::DialectRegistry &registry);
void registerPasses();
} // namespace nnc
