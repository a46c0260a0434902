// model.pb -> `nn` dialect.
//
// 1. Check the model-level fields (format version, loss, graph inputs, parameters).
// 2. Order the nodes topologically, rejecting duplicate names, dangling inputs and cycles.
// 3. Create one op per node through its registered builder: proto attributes map 1:1 onto the
//    op's inherent attributes, the op infers (and thereby checks) its result type, and the ODS
//    verifier checks the rest. The first problem stops the import, reported at the node.
#include "compiler/import/ModelImporter.h"
#include "dialects/AttrNames.h"

#include "dialects/nn/NNDialect.h"
#include "proto/model.pb.h"
#include "support/Format.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/text_format.h>

#include <cmath>

using namespace mlir;

namespace nnc {

//===----------------------------------------------------------------------===//
// Reading the file
//===----------------------------------------------------------------------===//

namespace {
/// Keeps the first text-format parse error instead of letting protobuf log it.
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
public:
  void AddError(int line, int column, const std::string &message) override {
    if (error.empty())
      error = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string error;
};
} // namespace

namespace {
/// Keeps libprotobuf's log lines (a binary string field that is not UTF-8 logs one, then fails
/// the parse) from reaching stderr while alive, holding the first for nnc's own message. The
/// handler is a plain function, so the line lives in a static.
class ProtobufLogCapture {
public:
  ProtobufLogCapture() : previous(google::protobuf::SetLogHandler(&capture)) { first().clear(); }
  ~ProtobufLogCapture() { google::protobuf::SetLogHandler(previous); }
  static std::string &first() {
    static std::string line;
    return line;
  }

private:
  static void capture(google::protobuf::LogLevel, const char *, int, const std::string &message) {
    if (first().empty() && !message.empty()) {
      first() = llvm::StringRef(message).split(". ").first.str();
      first()[0] = llvm::toLower(first()[0]);
    }
  }
  google::protobuf::LogHandler *previous;
};
} // namespace

bool readModelFile(const std::string &path, Model &model, std::string &error) {
  ProtobufLogCapture log;
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!buffer) {
    error = "cannot read the file: " + buffer.getError().message();
    return false;
  }
  llvm::StringRef bytes = (*buffer)->getBuffer();
  if (bytes.empty()) {
    error = "the file is empty";
    return false;
  }
  if (llvm::StringRef(path).ends_with(".pbtxt")) {
    google::protobuf::TextFormat::Parser parser;
    FirstErrorCollector collector;
    parser.RecordErrorsTo(&collector);
    if (!parser.ParseFromString(bytes.str(), &model)) {
      error = "not a valid text-format model: " + collector.error;
      return false;
    }
    return true;
  }
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    error = "not a valid binary model (truncated or corrupt protobuf), nor an ONNX model";
    if (!log.first().empty())
      error = "not a valid binary model: " + log.first();
    return false;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Building ops
//===----------------------------------------------------------------------===//

namespace {

using OpBuilderFn = Operation *(*)(OpBuilder &, Location, ValueRange, DictionaryAttr);

/// The fewest inputs `OpTy` takes, and whether it takes more (optional or variadic inputs), from
/// the operand-count trait ODS gives it: NOperands<N> (N >= 2) and AtLeastNOperands<N - 1> are
/// tried up to N = 8.
template <typename OpTy, unsigned N = 2>
constexpr std::pair<unsigned, bool> operandCount() {
  using namespace OpTrait;
  if constexpr (OpTy::template hasTrait<ZeroOperands>())
    return {0, false};
  else if constexpr (OpTy::template hasTrait<OneOperand>())
    return {1, false};
  else if constexpr (OpTy::template hasTrait<VariadicOperands>())
    return {0, true};
  else if constexpr (OpTy::template hasTrait<AtLeastNOperands<N - 1>::template Impl>())
    return {N - 1, true};
  else if constexpr (OpTy::template hasTrait<NOperands<N>::template Impl>())
    return {N, false};
  else {
    static_assert(N < 8, "an op with an operand count trait this function does not know");
    return operandCount<OpTy, N + 1>();
  }
}

/// The proto spells the ops' enum attributes (activation, approximate, reduction) as strings;
/// the ops take the dialect's enum attributes. A string that names no kind is refused, listing
/// the kinds.
FailureOr<DictionaryAttr> typedEnumAttrs(DictionaryAttr attrs, Location loc, StringRef op) {
  MLIRContext *ctx = attrs.getContext();
  SmallVector<NamedAttribute> converted;
  for (NamedAttribute attr : attrs) {
    auto text = dyn_cast<StringAttr>(attr.getValue());
    StringRef name = attr.getName().strref();
    mlir::Attribute typed = attr.getValue();
    const char *kinds = nullptr;
    if (text && name == "activation") {
      kinds = "relu";
      if (auto kind = nn::symbolizeActivation(text.getValue()))
        typed = nn::ActivationAttr::get(ctx, *kind);
    } else if (text && name == "approximate") {
      kinds = "none, tanh";
      if (auto kind = nn::symbolizeApproximation(text.getValue()))
        typed = nn::ApproximationAttr::get(ctx, *kind);
    } else if (text && name == "reduction") {
      kinds = "mean, sum";
      if (auto kind = nn::symbolizeReduction(text.getValue()))
        typed = nn::ReductionAttr::get(ctx, *kind);
    }
    if (kinds && typed == attr.getValue())
      return emitError(loc) << "attribute '" << name << "' of op '" << op << "' must be one of "
                            << kinds << ", got \"" << text.getValue() << "\"";
    converted.push_back({attr.getName(), typed});
  }
  return DictionaryAttr::get(ctx, converted);
}

/// Creates an `OpTy` from operands and inherent attributes, inferring its result type. Returns
/// null after emitting a diagnostic at `loc` when the inputs, the attributes or the inference
/// fail.
/// Whether `OpTy` has an optional `bias` operand (linear, conv2d): its one optional input.
template <typename OpTy, typename = void> constexpr bool hasOptionalBias = false;
template <typename OpTy>
constexpr bool hasOptionalBias<OpTy, std::void_t<decltype(&OpTy::getBias)>> = true;

template <typename OpTy>
Operation *buildOp(OpBuilder &builder, Location loc, ValueRange operands, DictionaryAttr attrs) {
  // Inference reads its operands by position: too few must stop here, not crash it.
  auto [fewest, more] = operandCount<OpTy>();
  bool optionalBias = more && hasOptionalBias<OpTy>;
  size_t count = operands.size();
  if (count < fewest || (!more && count != fewest) || (optionalBias && count > fewest + 1)) {
    InFlightDiagnostic diag = emitError(loc) << "op '" << OpTy::getOperationName().drop_front(3)
                                             << "' takes ";
    if (optionalBias)
      diag << fewest << " or " << fewest + 1 << " inputs";
    else
      diag << (more ? "at least " : "") << fewest << " input" << (fewest == 1 ? "" : "s");
    diag << ", the node lists " << count;
    return nullptr;
  }
  FailureOr<DictionaryAttr> typed =
      typedEnumAttrs(attrs, loc, OpTy::getOperationName().drop_front(3));
  if (failed(typed))
    return nullptr;
  attrs = *typed;
  OperationState state(loc, OpTy::getOperationName());
  state.addOperands(operands);
  using Properties = typename OpTy::template InferredProperties<OpTy>;
  OpaqueProperties properties = nullptr;
  if constexpr (!std::is_same_v<Properties, EmptyProperties>) {
    properties = &state.getOrAddProperties<Properties>();
    // A proto attribute of the wrong kind fails this conversion; say so in the user's terms
    // rather than in MLIR's.
    LogicalResult converted = success();
    {
      ScopedDiagnosticHandler silence(builder.getContext(), [](Diagnostic &) { return success(); });
      converted = state.name.getRegisteredInfo()->setOpPropertiesFromAttribute(
          state.name, properties, attrs, [&] { return emitError(loc); });
    }
    if (failed(converted)) {
      // Find the attribute that does not convert, trying each alone.
      StringRef culprit;
      for (NamedAttribute attr : attrs) {
        OperationState probe(loc, OpTy::getOperationName());
        ScopedDiagnosticHandler silence(builder.getContext(), [](Diagnostic &) { return success(); });
        if (failed(probe.name.getRegisteredInfo()->setOpPropertiesFromAttribute(
                probe.name, &probe.getOrAddProperties<Properties>(),
                DictionaryAttr::get(builder.getContext(), {attr}), [&] { return emitError(loc); })))
          culprit = attr.getName().strref();
      }
      emitError(loc) << "attribute '" << culprit << "' has the wrong kind for op '"
                     << OpTy::getOperationName().drop_front(3) << "'";
      return nullptr;
    }
    state.name.getRegisteredInfo()->populateDefaultProperties(properties);
  }
  SmallVector<Type> types;
  if (failed(OpTy::inferReturnTypes(builder.getContext(), loc, state.operands, attrs, properties,
                                    state.regions, types)))
    return nullptr;
  state.addTypes(types);
  Operation *op = builder.create(state);
  if (failed(verify(op, /*verifyRecursively=*/false)))
    return nullptr;
  return op;
}

/// The node vocabulary: proto `op` name -> builder of the `nn` op.
const llvm::StringMap<OpBuilderFn> &opBuilders() {
  static const llvm::StringMap<OpBuilderFn> builders = {
      {"constant", buildOp<nn::ConstantOp>},
      {"linear", buildOp<nn::LinearOp>},
      {"matmul", buildOp<nn::MatmulOp>},
      {"conv2d", buildOp<nn::Conv2dOp>},
      {"add", buildOp<nn::AddOp>},
      {"sub", buildOp<nn::SubOp>},
      {"mul", buildOp<nn::MulOp>},
      {"div", buildOp<nn::DivOp>},
      {"relu", buildOp<nn::ReluOp>},
      {"stop_gradient", buildOp<nn::StopGradientOp>},
      {"gelu", buildOp<nn::GeluOp>},
      {"tanh", buildOp<nn::TanhOp>},
      {"sigmoid", buildOp<nn::SigmoidOp>},
      {"sqrt", buildOp<nn::SqrtOp>},
      {"exp", buildOp<nn::ExpOp>},
      {"log", buildOp<nn::LogOp>},
      {"clamp", buildOp<nn::ClampOp>},
      {"clamp_grad", buildOp<nn::ClampGradOp>},
      {"relu_grad", buildOp<nn::ReluGradOp>},
      {"pad", buildOp<nn::PadOp>},
      {"equal", buildOp<nn::EqualOp>},
      {"broadcast", buildOp<nn::BroadcastOp>},
      {"dropout", buildOp<nn::DropoutOp>},
      {"causal_mask", buildOp<nn::CausalMaskOp>},
      {"softmax", buildOp<nn::SoftmaxOp>},
      {"log_softmax", buildOp<nn::LogSoftmaxOp>},
      {"layer_norm", buildOp<nn::LayerNormOp>},
      {"batch_norm", buildOp<nn::BatchNormOp>},
      {"max_pool2d", buildOp<nn::MaxPool2dOp>},
      {"avg_pool2d", buildOp<nn::AvgPool2dOp>},
      {"embedding", buildOp<nn::EmbeddingOp>},
      {"reshape", buildOp<nn::ReshapeOp>},
      {"transpose", buildOp<nn::TransposeOp>},
      {"concat", buildOp<nn::ConcatOp>},
      {"slice", buildOp<nn::SliceOp>},
      {"reduce_sum", buildOp<nn::ReduceSumOp>},
      {"reduce_mean", buildOp<nn::ReduceMeanOp>},
      {"reduce_max", buildOp<nn::ReduceMaxOp>},
      {"cross_entropy", buildOp<nn::CrossEntropyOp>},
      {"mse_loss", buildOp<nn::MseLossOp>},
  };
  return builders;
}

/// Whether `type`'s byte size fits in int64, as every size and offset in a plan must.
bool byteSizeFits(RankedTensorType type) {
  int64_t bytes = llvm::divideCeil(type.getElementTypeBitWidth(), 8);
  for (int64_t dim : type.getShape())
    if (llvm::MulOverflow(bytes, dim, bytes))
      return false;
  return true;
}

/// Turns model.pb into one function; every `emit*` helper reports at a location and fails.
class Importer {
public:
  Importer(const Model &model, MLIRContext *context, bool inference)
      : model(model), context(context), builder(context), unknown(UnknownLoc::get(context)),
        inference(inference) {}

  /// Fills `module` with the function; fails after emitting one diagnostic.
  LogicalResult run(ModuleOp module);

private:
  Location nodeLoc(const std::string &name) { return NameLoc::get(builder.getStringAttr(name)); }
  FailureOr<RankedTensorType> convertType(const TensorType &type, const Twine &what, bool floatOnly);
  FailureOr<DenseElementsAttr> convertValue(const TensorValue &value, Location loc, const Twine &what);
  FailureOr<mlir::Attribute> convertAttribute(const Attribute &attr, Location loc,
                                             const std::string &name);
  LogicalResult checkTrainingSpec();
  LogicalResult checkZeroStage(const TrainingSpec &spec);
  LogicalResult declareArguments(SmallVectorImpl<Type> &argTypes,
                                 SmallVectorImpl<DictionaryAttr> &argAttrs);
  LogicalResult checkParameterValues(const Parameter &param, RankedTensorType type,
                                     const std::string &what);
  LogicalResult importNode(const Node &node);
  LogicalResult buildResults(func::FuncOp func);
  LogicalResult checkInitializer(const Initializer &init, const std::string &what);
  void markIndexLimits(func::FuncOp func);
  LogicalResult declareName(const std::string &name, Location loc, const Twine &what);
  FailureOr<SmallVector<const Node *>> sortNodes();
  DictionaryAttr initializerAttr(const Parameter &param);

  const Model &model;
  MLIRContext *context;
  OpBuilder builder;
  Location unknown;
  bool inference; // nnc compile --inference: no loss, no training spec
  llvm::StringMap<Value> values; // tensor name -> SSA value
  llvm::StringSet<> names;       // every graph input, parameter and node output name
};

FailureOr<RankedTensorType> Importer::convertType(const TensorType &type, const Twine &what,
                                                  bool floatOnly) {
  Type element;
  switch (type.dtype()) {
  case F32: element = builder.getF32Type(); break;
  case F16: element = builder.getF16Type(); break;
  case BF16: element = builder.getBF16Type(); break;
  case I32: element = builder.getI32Type(); break;
  case I64: element = builder.getI64Type(); break;
  default:
    return emitError(unknown) << what << ": dtype is not set (expected F32, F16, BF16, I32 or I64)";
  }
  if (floatOnly && !isa<FloatType>(element))
    return emitError(unknown) << what << ": dtype must be F32, F16 or BF16, got "
                              << DType_Name(type.dtype());
  for (int64_t dim : type.shape())
    if (dim < 1)
      return emitError(unknown) << what << ": dimension " << dim << " must be positive";
  auto tensor = RankedTensorType::get(llvm::to_vector(type.shape()), element);
  if (!byteSizeFits(tensor))
    return emitError(unknown) << what << ": " << tensor << " has more bytes than int64 can count";
  return tensor;
}

FailureOr<DenseElementsAttr> Importer::convertValue(const TensorValue &value, Location loc,
                                                    const Twine &what) {
  FailureOr<RankedTensorType> type = convertType(value.type(), what, /*floatOnly=*/false);
  if (failed(type))
    return failure();
  if (value.values_size() != type->getNumElements())
    return emitError(loc) << what << ": has " << value.values_size() << " values but shape "
                          << *type << " needs " << type->getNumElements();
  SmallVector<mlir::Attribute> elements;
  Type elementType = type->getElementType();
  for (float v : value.values()) {
    if (isa<FloatType>(elementType)) {
      elements.push_back(FloatAttr::get(elementType, v));
    } else if (std::trunc(v) == v && std::abs(v) < 0x1p63f) {
      elements.push_back(IntegerAttr::get(elementType, static_cast<int64_t>(v)));
    } else {
      return emitError(loc) << what << ": value " << formatNumber(v) << " is not an integer";
    }
  }
  return DenseElementsAttr::get(*type, elements);
}

FailureOr<mlir::Attribute> Importer::convertAttribute(const Attribute &attr, Location loc,
                                                      const std::string &name) {
  switch (attr.value_case()) {
  case Attribute::kI: return mlir::Attribute(builder.getI64IntegerAttr(attr.i()));
  case Attribute::kF: return mlir::Attribute(builder.getF64FloatAttr(attr.f()));
  case Attribute::kS: return mlir::Attribute(builder.getStringAttr(attr.s()));
  case Attribute::kB: return mlir::Attribute(builder.getBoolAttr(attr.b()));
  case Attribute::kInts:
    return mlir::Attribute(builder.getDenseI64ArrayAttr(llvm::to_vector(attr.ints().values())));
  case Attribute::kFloats:
    return mlir::Attribute(builder.getDenseF64ArrayAttr(llvm::to_vector(attr.floats().values())));
  case Attribute::kTensor: {
    FailureOr<DenseElementsAttr> value = convertValue(attr.tensor(), loc, "attribute '" + name + "'");
    if (failed(value))
      return failure();
    return mlir::Attribute(*value);
  }
  case Attribute::VALUE_NOT_SET: break;
  }
  return emitError(loc) << "attribute '" << name << "' has no value";
}

/// ZeRO (issue 20): stage 1 only, and only where there are ranks to shard over.
LogicalResult Importer::checkZeroStage(const TrainingSpec &spec) {
  int64_t stage = spec.data_parallel().zero_stage();
  if (stage != 0 && stage != 1)
    return emitError(unknown) << "training.data_parallel.zero_stage must be 0 or 1, got " << stage;
  if (stage == 1 && spec.data_parallel().world_size() < 2)
    return emitError(unknown) << "training.data_parallel.zero_stage 1 shards over the ranks of "
                                 "data parallelism: set world_size >= 2 (--data-parallel N)";
  if (stage == 1 && spec.pipeline().stages() > 1)
    return emitError(unknown) << "training.data_parallel.zero_stage 1 with pipeline stages is not "
                                 "supported yet";
  return success();
}

/// Range-checks every TrainingSpec field, so that a value out of range is refused naming its
/// field and the value given rather than replaced by a default or left to fail at run time.
LogicalResult Importer::checkTrainingSpec() {
  const TrainingSpec &spec = model.training();
  if (spec.loss().empty())
    return emitError(unknown) << "training.loss is not set: name the scalar tensor to minimize";
  const Optimizer &opt = spec.optimizer();
  auto inRange = [&](double v, double lo, double hi, const char *field) -> LogicalResult {
    if (v >= lo && v < hi)
      return success();
    return emitError(unknown) << "training." << field << " must be in [" << formatNumber(lo)
                              << ", " << formatNumber(hi) << "), got " << formatNumber(v);
  };
  // Counts: 0 means the default or off; the upper bounds are far past any real run and keep
  // step arithmetic (epochs x steps, scale x steps) well inside int64.
  auto count = [&](int64_t v, int64_t hi, const char *field) -> LogicalResult {
    if (v >= 0 && v <= hi)
      return success();
    return emitError(unknown) << "training." << field << " must be in [0, " << hi << "], got "
                              << v;
  };
  auto knownKind = [&](bool valid, int kind, const char *field) -> LogicalResult {
    if (valid)
      return success();
    return emitError(unknown) << "training." << field << " " << kind << " is not a known kind";
  };
  double inf = std::numeric_limits<double>::infinity();
  double floatMax = std::numeric_limits<float>::max();
  constexpr int64_t kMaxCount = int64_t(1) << 20, kMaxSteps = int64_t(1) << 40;
  const LRSchedule &lr = spec.lr_schedule();
  const Precision &precision = spec.precision();
  if (failed(knownKind(Optimizer::Kind_IsValid(opt.kind()), opt.kind(), "optimizer.kind")) ||
      failed(inRange(opt.learning_rate(), 0, inf, "optimizer.learning_rate")) ||
      failed(inRange(opt.momentum(), 0, 1, "optimizer.momentum")) ||
      failed(inRange(opt.beta1(), 0, 1, "optimizer.beta1")) ||
      failed(inRange(opt.beta2(), 0, 1, "optimizer.beta2")) ||
      failed(inRange(opt.epsilon(), 0, inf, "optimizer.epsilon")) ||
      failed(inRange(opt.weight_decay(), 0, inf, "optimizer.weight_decay")) ||
      failed(knownKind(LRSchedule::Kind_IsValid(lr.kind()), lr.kind(), "lr_schedule.kind")) ||
      failed(count(lr.warmup_steps(), kMaxSteps, "lr_schedule.warmup_steps")) ||
      failed(inRange(lr.min_lr(), 0, inf, "lr_schedule.min_lr")) ||
      failed(count(lr.step_size(), kMaxSteps, "lr_schedule.step_size")) ||
      failed(count(lr.patience(), kMaxSteps, "lr_schedule.patience")) ||
      failed(inRange(spec.grad_clip_norm(), 0, inf, "grad_clip_norm")) ||
      failed(knownKind(Precision::Kind_IsValid(precision.kind()), precision.kind(),
                       "precision.kind")) ||
      failed(inRange(precision.initial_loss_scale(), 0, floatMax,
                     "precision.initial_loss_scale")) ||
      failed(count(precision.growth_interval(), kMaxSteps, "precision.growth_interval")) ||
      failed(inRange(precision.min_loss_scale(), 0, floatMax, "precision.min_loss_scale")) ||
      failed(count(spec.accumulation_steps(), kMaxCount, "accumulation_steps")) ||
      failed(count(spec.data_parallel().world_size(), kMaxCount, "data_parallel.world_size")) ||
      failed(count(spec.data_parallel().bucket_bytes(), int64_t(1) << 40,
                   "data_parallel.bucket_bytes")) ||
      failed(count(spec.pipeline().stages(), kMaxCount, "pipeline.stages")) ||
      failed(count(spec.pipeline().micro_batches(), kMaxCount, "pipeline.micro_batches")) ||
      failed(count(spec.epochs(), kMaxSteps, "epochs")) ||
      failed(count(spec.early_stopping_patience(), kMaxSteps, "early_stopping_patience")))
    return failure();
  if (failed(checkZeroStage(spec)))
    return failure();
  if (!(lr.gamma() >= 0 && lr.gamma() <= 1))
    return emitError(unknown) << "training.lr_schedule.gamma must be in [0, 1] (0: 0.1), got "
                              << formatNumber(lr.gamma());
  for (const std::string &name : precision.fp32_ops())
    if (!opBuilders().contains(name))
      return emitError(unknown) << "training.precision.fp32_ops names '" << name
                                << "', which is not an op";
  for (auto [i, metric] : llvm::enumerate(spec.metrics()))
    if (failed(knownKind(Metric::Kind_IsValid(metric.kind()), metric.kind(),
                         ("metrics[" + std::to_string(i) + "].kind").c_str())))
      return failure();
  return success();
}

/// Refuses at import what the plan's init would fail on at run time (or fill with NaN): kinds
/// this nnc does not know, non-finite numbers, empty ranges, negative spreads and fans.
LogicalResult Importer::checkInitializer(const Initializer &init, const std::string &what) {
  if (!Initializer::Kind_IsValid(init.kind()))
    return emitError(unknown) << what << ": init.kind " << static_cast<int>(init.kind())
                              << " is not an initializer kind (ZEROS .. XAVIER_UNIFORM)";
  for (auto [value, field] : {std::pair{init.value(), "value"}, {init.low(), "low"},
                              {init.high(), "high"}, {init.mean(), "mean"},
                              {init.stddev(), "stddev"}, {init.gain(), "gain"}})
    if (!std::isfinite(value))
      return emitError(unknown) << what << ": init." << field << " must be finite, got "
                                << formatNumber(value);
  if (init.kind() == Initializer::UNIFORM && init.low() > init.high())
    return emitError(unknown) << what << ": init.low " << formatNumber(init.low())
                              << " must not exceed init.high " << formatNumber(init.high());
  if (init.stddev() < 0)
    return emitError(unknown) << what << ": init.stddev must be >= 0, got "
                              << formatNumber(init.stddev());
  for (auto [value, field] : {std::pair{init.fan_in(), "fan_in"}, {init.fan_out(), "fan_out"}})
    if (value < 0)
      return emitError(unknown) << what << ": init." << field
                                << " must be >= 0 (0: from the shape), got " << value;
  return success();
}

LogicalResult Importer::declareName(const std::string &name, Location loc, const Twine &what) {
  if (name.empty())
    return emitError(loc) << what << " has an empty name";
  if (!names.insert(name).second)
    return emitError(loc) << what << " '" << name
                          << "' reuses a name already given to another tensor";
  return success();
}

FailureOr<SmallVector<const Node *>> Importer::sortNodes() {
  // Kahn's algorithm over node -> producer-of-input edges, in file order for stable output.
  llvm::StringMap<int> producer;
  llvm::StringSet<> nodeNames;
  for (auto [i, node] : llvm::enumerate(model.nodes())) {
    Location loc = nodeLoc(node.name());
    if (node.name().empty())
      return emitError(unknown) << "node #" << i << " (op '" << node.op() << "') has no name";
    if (!nodeNames.insert(node.name()).second)
      return emitError(loc) << "duplicate node name '" << node.name() << "'";
    if (!opBuilders().contains(node.op()))
      return emitError(loc) << "unknown op '" << node.op() << "'";
    if (node.outputs_size() != 1)
      return emitError(loc) << "op '" << node.op() << "' has 1 output, the node lists "
                            << node.outputs_size();
    for (const std::string &output : node.outputs()) {
      if (failed(declareName(output, loc, "output")))
        return failure();
      producer[output] = i;
    }
  }
  size_t count = model.nodes_size();
  SmallVector<int> pending(count, 0);
  SmallVector<SmallVector<int>> consumers(count);
  for (auto [i, node] : llvm::enumerate(model.nodes())) {
    for (const std::string &input : node.inputs()) {
      auto it = producer.find(input);
      if (it != producer.end()) {
        ++pending[i];
        consumers[it->second].push_back(i);
      } else if (!values.contains(input)) {
        return emitError(nodeLoc(node.name()))
               << "input '" << input << "' is not a graph input, parameter or node output";
      }
    }
  }
  SmallVector<const Node *> order;
  SmallVector<int> ready;
  for (size_t i = 0; i < count; ++i)
    if (pending[i] == 0)
      ready.push_back(i);
  while (!ready.empty()) {
    int i = ready.front();
    ready.erase(ready.begin());
    order.push_back(&model.nodes(i));
    for (int consumer : consumers[i])
      if (--pending[consumer] == 0)
        ready.push_back(consumer);
  }
  if (order.size() != count)
    for (size_t i = 0; i < count; ++i)
      if (pending[i] > 0)
        return emitError(nodeLoc(model.nodes(i).name()))
               << "is part of a dependency cycle (its inputs depend on its own output)";
  return order;
}

/// The path ("nodes[2].name") of the first string in `message` that is not UTF-8, or "". The text
/// format reads any bytes, but a plan carries these strings and nnrun's parse refuses them.
std::string firstNonUtf8(const google::protobuf::Message &message, const std::string &prefix) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection *r = message.GetReflection();
  std::vector<const FD *> fields;
  r->ListFields(message, &fields);
  for (const FD *field : fields) {
    if (field->cpp_type() != FD::CPPTYPE_STRING && field->cpp_type() != FD::CPPTYPE_MESSAGE)
      continue;
    int count = field->is_repeated() ? r->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      std::string path = prefix + field->name();
      if (field->is_repeated())
        path += "[" + std::to_string(i) + "]";
      bool rep = field->is_repeated();
      if (field->cpp_type() == FD::CPPTYPE_MESSAGE) {
        std::string found = firstNonUtf8(
            rep ? r->GetRepeatedMessage(message, field, i) : r->GetMessage(message, field),
            path + ".");
        if (!found.empty())
          return found;
      } else if (!llvm::json::isUTF8(rep ? r->GetRepeatedString(message, field, i)
                                         : r->GetString(message, field))) {
        return path;
      }
    }
  }
  return "";
}

/// Renders a protobuf message as an attribute dictionary, fields that are set only, enums by name.
mlir::Attribute messageToAttr(const google::protobuf::Message &message, OpBuilder &builder);

mlir::Attribute fieldToAttr(const google::protobuf::Message &message,
                            const google::protobuf::FieldDescriptor *field, int index,
                            OpBuilder &builder) {
  using FD = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection *r = message.GetReflection();
  bool rep = field->is_repeated();
  switch (field->cpp_type()) {
  case FD::CPPTYPE_INT32: return builder.getI64IntegerAttr(rep ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
  case FD::CPPTYPE_INT64: return builder.getI64IntegerAttr(rep ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
  case FD::CPPTYPE_UINT32: return builder.getI64IntegerAttr(rep ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
  case FD::CPPTYPE_UINT64: return builder.getI64IntegerAttr(rep ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
  case FD::CPPTYPE_DOUBLE: return builder.getF64FloatAttr(rep ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
  case FD::CPPTYPE_FLOAT: return builder.getF64FloatAttr(rep ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
  case FD::CPPTYPE_BOOL: return builder.getBoolAttr(rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field));
  case FD::CPPTYPE_STRING: return builder.getStringAttr(rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field));
  case FD::CPPTYPE_ENUM: return builder.getStringAttr(llvm::StringRef(rep ? r->GetRepeatedEnum(message, field, index)->name() : r->GetEnum(message, field)->name()).lower());
  case FD::CPPTYPE_MESSAGE: return messageToAttr(rep ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field), builder);
  }
  return {};
}

mlir::Attribute messageToAttr(const google::protobuf::Message &message, OpBuilder &builder) {
  std::vector<const google::protobuf::FieldDescriptor *> fields;
  message.GetReflection()->ListFields(message, &fields);
  SmallVector<NamedAttribute> entries;
  for (const google::protobuf::FieldDescriptor *field : fields) {
    mlir::Attribute value;
    if (field->is_repeated()) {
      SmallVector<mlir::Attribute> items;
      for (int i = 0, e = message.GetReflection()->FieldSize(message, field); i < e; ++i)
        items.push_back(fieldToAttr(message, field, i, builder));
      value = builder.getArrayAttr(items);
    } else {
      value = fieldToAttr(message, field, 0, builder);
    }
    entries.push_back(builder.getNamedAttr(field->name(), value));
  }
  return builder.getDictionaryAttr(entries);
}

/// The TrainingSpec fields the passes read, as the typed `nn.training` attribute; fields at 0
/// (the proto's "default") stay unset, as in the proto.
nn::TrainingSpecAttr trainingSpecAttr(const TrainingSpec &spec, Builder &b) {
  // The enums are cast by value (checkTrainingSpec has refused unknown kinds).
  static_assert(int(nn::OptimizerKind::none) == Optimizer::KIND_UNSET &&
                int(nn::OptimizerKind::sgd) == Optimizer::SGD &&
                int(nn::OptimizerKind::adam) == Optimizer::ADAM &&
                int(nn::OptimizerKind::adamw) == Optimizer::ADAMW);
  static_assert(int(nn::PrecisionKind::fp32) == Precision::FP32 &&
                int(nn::PrecisionKind::fp16) == Precision::FP16 &&
                int(nn::PrecisionKind::bf16) == Precision::BF16);
  auto number = [&](double v) { return v != 0 ? b.getF64FloatAttr(v) : FloatAttr(); };
  auto flag = [&](bool v) { return v ? b.getBoolAttr(true) : BoolAttr(); };
  auto strings = [&](const google::protobuf::RepeatedPtrField<std::string> &list) {
    SmallVector<StringRef> items(list.begin(), list.end());
    return list.empty() ? ArrayAttr() : b.getStrArrayAttr(items);
  };
  const Optimizer &opt = spec.optimizer();
  const Precision &precision = spec.precision();
  return nn::TrainingSpecAttr::get(
      b.getContext(), b.getStringAttr(spec.loss()), static_cast<nn::OptimizerKind>(opt.kind()),
      number(opt.learning_rate()), number(opt.momentum()), flag(opt.nesterov()),
      number(opt.beta1()), number(opt.beta2()), number(opt.epsilon()),
      number(opt.weight_decay()), flag(opt.decay_all_parameters()),
      number(spec.grad_clip_norm()), static_cast<nn::PrecisionKind>(precision.kind()),
      number(precision.initial_loss_scale()), precision.growth_interval(),
      strings(precision.fp32_ops()), number(precision.min_loss_scale()),
      spec.accumulation_steps(), spec.data_parallel().world_size(),
      spec.data_parallel().bucket_bytes(), spec.pipeline().stages(),
      spec.pipeline().micro_batches(), strings(spec.pipeline().stage_boundaries()));
}

DictionaryAttr Importer::initializerAttr(const Parameter &param) {
  if (param.has_stored())
    return builder.getDictionaryAttr(builder.getNamedAttr("kind", builder.getStringAttr("stored")));
  return cast<DictionaryAttr>(messageToAttr(param.init(), builder));
}

LogicalResult Importer::run(ModuleOp module) {
  if (model.format_version() != FORMAT_VERSION_CURRENT)
    return emitError(unknown) << "format_version " << model.format_version()
                              << " is not supported (this nnc reads version "
                              << static_cast<int>(FORMAT_VERSION_CURRENT) << ")";
  if (std::string field = firstNonUtf8(model, ""); !field.empty())
    return emitError(unknown) << field << " is not valid UTF-8";
  if (inference) {
    if (model.outputs().empty())
      return emitError(unknown) << "the model has no outputs: --inference has nothing to predict";
    module->setAttr(nnc::attr::kInference, builder.getUnitAttr());
  } else if (failed(checkTrainingSpec())) {
    return failure();
  }

  // Arguments: graph inputs, then parameters.
  SmallVector<Type> argTypes;
  SmallVector<DictionaryAttr> argAttrs;
  if (failed(declareArguments(argTypes, argAttrs)))
    return failure();
  module->setAttr(nnc::attr::kTraining,
                  trainingSpecAttr(inference ? TrainingSpec() : model.training(), builder));
  // ZeRO-1 (issue 20): read by the distribute phase.
  if (!inference && model.training().data_parallel().zero_stage() > 0)
    module->setAttr(nnc::attr::kZeroStage,
                    builder.getI64IntegerAttr(model.training().data_parallel().zero_stage()));
  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, unknown, "forward",
                                   builder.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  for (auto [i, attrs] : llvm::enumerate(argAttrs))
    func.setArgAttrs(i, attrs);
  int argIndex = 0;
  for (const GraphInput &input : model.inputs())
    values[input.name()] = body->getArgument(argIndex++);
  for (const Parameter &param : model.parameters())
    values[param.name()] = body->getArgument(argIndex++);

  FailureOr<SmallVector<const Node *>> order = sortNodes();
  if (failed(order))
    return failure();
  builder.setInsertionPointToEnd(body);
  for (const Node *node : *order)
    if (failed(importNode(*node)))
      return failure();
  if (failed(buildResults(func)))
    return failure();
  markIndexLimits(func);
  return verify(module);
}

/// The argument types and attributes of the graph inputs, then of the parameters, each checked.
LogicalResult Importer::declareArguments(SmallVectorImpl<Type> &argTypes,
                                         SmallVectorImpl<DictionaryAttr> &argAttrs) {
  for (const GraphInput &input : model.inputs()) {
    std::string what = "input '" + input.name() + "'";
    FailureOr<RankedTensorType> type = convertType(input.type(), what, /*floatOnly=*/false);
    if (failed(declareName(input.name(), unknown, "graph input")) || failed(type))
      return failure();
    argTypes.push_back(*type);
    SmallVector<NamedAttribute> attrs = {
        builder.getNamedAttr(nnc::attr::kInput, builder.getStringAttr(input.name()))};
    if (input.role() != GraphInput::ROLE_UNSET)
      attrs.push_back(builder.getNamedAttr(
          nnc::attr::kRole, builder.getStringAttr(llvm::StringRef(GraphInput::Role_Name(input.role())).lower())));
    argAttrs.push_back(builder.getDictionaryAttr(attrs));
  }
  for (const Parameter &param : model.parameters()) {
    std::string what = "parameter '" + param.name() + "'";
    if (failed(declareName(param.name(), unknown, "parameter")))
      return failure();
    FailureOr<RankedTensorType> type = convertType(param.type(), what, /*floatOnly=*/true);
    if (failed(type) || failed(checkParameterValues(param, *type, what)))
      return failure();
    argTypes.push_back(*type);
    argAttrs.push_back(builder.getDictionaryAttr(
        {builder.getNamedAttr(nnc::attr::kParam, builder.getStringAttr(param.name())),
         builder.getNamedAttr(nnc::attr::kInit, initializerAttr(param)),
         builder.getNamedAttr(nnc::attr::kTrainable, builder.getBoolAttr(!param.frozen()))}));
  }
  return success();
}

/// A parameter's stored values fit its type, or its initializer is valid.
LogicalResult Importer::checkParameterValues(const Parameter &param, RankedTensorType type,
                                             const std::string &what) {
  if (param.has_stored()) {
    if (param.stored().type().SerializeAsString() != param.type().SerializeAsString())
      return emitError(unknown) << what << ": stored values have a different type than the "
                                   "parameter";
    if (param.stored().values_size() != type.getNumElements())
      return emitError(unknown) << what << ": has " << param.stored().values_size()
                                << " stored values but shape " << type << " needs "
                                << type.getNumElements();
    return success();
  }
  if (param.init().kind() == Initializer::KIND_UNSET)
    return emitError(unknown) << what << ": has neither an initializer nor stored values";
  return checkInitializer(param.init(), what);
}

/// One node as its `nn` op, at the builder's insertion point; its output joins `values`.
LogicalResult Importer::importNode(const Node &node) {
  Location loc = nodeLoc(node.name());
  SmallVector<Value> operands;
  for (const std::string &input : node.inputs())
    operands.push_back(values.lookup(input));
  // Map attributes in name order so the output does not depend on protobuf's map order.
  std::vector<std::string> attrNames;
  for (const auto &entry : node.attrs())
    attrNames.push_back(entry.first);
  llvm::sort(attrNames);
  std::string opName = "nn." + node.op();
  ArrayRef<StringAttr> known =
      RegisteredOperationName::lookup(opName, context)->getAttributeNames();
  SmallVector<NamedAttribute> attrs;
  for (const std::string &name : attrNames) {
    if (!llvm::is_contained(known, builder.getStringAttr(name)))
      return emitError(loc) << "op '" << node.op() << "' has no attribute '" << name << "'";
    FailureOr<mlir::Attribute> attr = convertAttribute(node.attrs().at(name), loc, name);
    if (failed(attr))
      return failure();
    attrs.push_back(builder.getNamedAttr(name, *attr));
  }
  Operation *op =
      opBuilders().lookup(node.op())(builder, loc, operands, builder.getDictionaryAttr(attrs));
  if (!op)
    return failure();
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  if (!byteSizeFits(result))
    return emitError(loc) << "result " << result << " has more bytes than int64 can count";
  values[node.outputs(0)] = op->getResult(0);
  return success();
}

/// Returns the loss (none under --inference), then the model's outputs, from `func`.
LogicalResult Importer::buildResults(func::FuncOp func) {
  SmallVector<Value> results;
  SmallVector<DictionaryAttr> resultAttrs;
  auto addResult = [&](const std::string &name, const char *what) -> LogicalResult {
    Value value = values.lookup(name);
    if (!value)
      return emitError(unknown) << what << " '" << name << "' is not a tensor of the model";
    results.push_back(value);
    resultAttrs.push_back(nnc::attr::stringDict(builder, nnc::attr::kOutput, name));
    return success();
  };
  if (!inference) {
    if (failed(addResult(model.training().loss(), "training.loss")))
      return failure();
    auto lossType = cast<RankedTensorType>(results.front().getType());
    if (lossType.getRank() != 0 || !isa<FloatType>(lossType.getElementType()))
      return emitError(results.front().getLoc())
                 << "training.loss '" << model.training().loss()
                 << "' must be a float scalar, got " << lossType;
  }
  for (const std::string &output : model.outputs())
    if (failed(addResult(output, "output")))
      return failure();
  func::ReturnOp::create(builder, unknown, results);
  func.setType(builder.getFunctionType(func.getArgumentTypes(), ValueRange(results).getTypes()));
  for (auto [i, attrs] : llvm::enumerate(resultAttrs))
    func.setResultAttrs(i, attrs);
  return success();
}

/// Marks each graph input of ids that an embedding or a cross-entropy reads directly (or through
/// reshapes) with `nn.index_limit` (its table's rows, its logits' classes: the smallest over its
/// readers) and `nn.index_reader` (that reader's node), for nnrun to check the data it is fed.
void Importer::markIndexLimits(func::FuncOp func) {
  auto mark = [&](Value ids, int64_t limit, Location reader) {
    while (auto reshape = ids.getDefiningOp<nn::ReshapeOp>())
      ids = reshape.getInput();
    auto arg = dyn_cast<BlockArgument>(ids);
    if (!arg || !func.getArgAttr(arg.getArgNumber(), nnc::attr::kInput) || ShapedType::isDynamic(limit))
      return;
    auto old = func.getArgAttrOfType<IntegerAttr>(arg.getArgNumber(), nnc::attr::kIndexLimit);
    if (old && old.getInt() <= limit)
      return;
    func.setArgAttr(arg.getArgNumber(), nnc::attr::kIndexLimit, builder.getI64IntegerAttr(limit));
    if (auto name = dyn_cast<NameLoc>(reader))
      func.setArgAttr(arg.getArgNumber(), nnc::attr::kIndexReader, name.getName());
  };
  func.walk([&](Operation *op) {
    if (auto embedding = dyn_cast<nn::EmbeddingOp>(op))
      mark(embedding.getIndices(),
           cast<RankedTensorType>(embedding.getWeight().getType()).getDimSize(0), op->getLoc());
    else if (auto loss = dyn_cast<nn::CrossEntropyOp>(op);
             loss && isa<IntegerType>(getElementTypeOrSelf(loss.getTarget().getType())))
      mark(loss.getTarget(), cast<RankedTensorType>(loss.getLogits().getType()).getShape().back(),
           op->getLoc());
  });
}

} // namespace

OwningOpRef<ModuleOp> importModel(const Model &model, MLIRContext *context, bool inference) {
  context->loadDialect<nn::NNDialect, func::FuncDialect>();
  std::optional<StringRef> name;
  if (!model.name().empty())
    name = model.name();
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(context), name);
  if (failed(Importer(model, context, inference).run(*module)))
    return nullptr;
  return module;
}

} // namespace nnc
