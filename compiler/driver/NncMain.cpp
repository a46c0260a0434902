// The `nnc` command line: `nnc compile model.pb|model.onnx [--compile-to=<phase>] [-o out]` and
// `nnc import model.onnx [-o model.pbtxt]`.
//
// Errors become one line on stderr, "nnc: error: <file>: [node '<name>': ]<message>", and exit
// code 1: the first diagnostic is the one that stopped the compiler; the rest would only echo it.
#include "compiler/driver/NncMain.h"

#include "compiler/Registration.h"
#include "compiler/codegen/CpuCodegen.h"
#include "compiler/codegen/CudaCodegen.h"
#include "compiler/codegen/CudaLaunchStats.h"
#include "compiler/plan/Roofline.h"
#include "compiler/driver/ModelFlags.h"
#include "compiler/import/ModelImporter.h"
#include "compiler/import/OnnxImporter.h"
#include "compiler/Passes.h"
#include "compiler/pipeline/Pipeline.h"
#include "compiler/plan/PlanBuilder.h"
#include "dialects/AttrNames.h"
#include "dialects/plan/PlanDialect.h"
#include "proto/model.pb.h"
#include "proto/plan.pb.h"
#include "support/AtomicFile.h"
#include "support/Version.h"
#include "support/Checksum.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Signals.h"
#include "llvm/Support/raw_ostream.h"

#include <google/protobuf/text_format.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <map>
#include <cstring>
#include <sys/stat.h>

using namespace mlir;

namespace nnc {
namespace {

constexpr const char *kOverview = R"(nnc: ahead-of-time compiler for neural-network training

USAGE: nnc <command> [options]

COMMANDS:
  compile   Compile a model (model.pb, text format .pbtxt, or an ONNX file) through the MLIR
            pipeline. 'nnc compile --help' lists its options.
  import    Write the nnc.Model an ONNX file becomes, in text format (editable, compilable).
            'nnc import --list-ops' lists the ONNX ops it maps.

OPTIONS:
  --help    Show this overview.
  --version Show the nnc and LLVM versions.
)";

void printVersion(llvm::raw_ostream &os) {
  os << "nnc " NNC_VERSION_STRING " (LLVM/MLIR " << LLVM_VERSION_STRING << ")\n";
}

/// Prints the first error as one line naming the file and, where known, the node.
class OneLineDiagnostics {
public:
  OneLineDiagnostics(MLIRContext *context, std::string file, llvm::raw_ostream &errs)
      : file(std::move(file)), errs(errs),
        handler(context, [this](Diagnostic &diag) { return report(diag); }) {}

  bool sawError() const { return errors > 0; }

  /// Reports an error that did not come through MLIR's diagnostic engine.
  void error(const Twine &message) {
    if (errors++ == 0)
      errs << "nnc: error: " << file << ": " << message << "\n";
  }

private:
  LogicalResult report(Diagnostic &diag) {
    std::string prefix;
    if (auto name = dyn_cast<NameLoc>(diag.getLocation()))
      prefix = ("node '" + name.getName().strref() + "': ").str();
    if (diag.getSeverity() == DiagnosticSeverity::Error)
      error(prefix + diag.str());
    else if (diag.getSeverity() == DiagnosticSeverity::Warning)
      errs << "nnc: warning: " << file << ": " << prefix << diag.str() << "\n";
    return success();
  }

  std::string file;
  llvm::raw_ostream &errs;
  int errors = 0;
  ScopedDiagnosticHandler handler;
};

/// Writes an output file atomically (see support/AtomicFile.h), so that nnc killed at any point,
/// by SIGPIPE from `nnc ... 2>&1 | head` included, leaves the old file or the whole new one.
/// LLVM's signal handlers (InitLLVM) remove the temporary file on SIGINT, SIGTERM and SIGPIPE.
bool writeOutput(const std::string &output, llvm::StringRef bytes, llvm::raw_ostream &errs) {
  std::string temporary = temporaryPathFor(output);
  llvm::sys::RemoveFileOnSignal(temporary);
  Status written = writeFileAtomically(output, std::string_view(bytes.data(), bytes.size()));
  llvm::sys::DontRemoveFileOnSignal(temporary);
  if (!written.ok())
    errs << "nnc: error: " << written.message() << "\n";
  return written.ok();
}

std::string phaseList() {
  std::string list;
  for (const PhaseInfo &info : phases())
    list += (list.empty() ? "" : ", ") + info.name.str() + (info.implemented ? "" : " (not yet)");
  return list;
}

/// Prints what was compiled: the shape of the model in one line.
void printSummary(const Model &model, ModuleOp module, llvm::StringRef output,
                  llvm::raw_ostream &errs) {
  int64_t ops = 0, paramValues = 0;
  module.walk([&](Operation *op) { ops += op->getDialect() && op->getDialect()->getNamespace() == "nn"; });
  for (const Parameter &param : model.parameters()) {
    int64_t n = 1;
    for (int64_t dim : param.type().shape())
      n *= dim;
    paramValues += n;
  }
  errs << "nnc: " << (model.name().empty() ? "model" : model.name()) << ": " << ops
               << " nn ops, " << model.parameters_size() << " parameters (" << paramValues
               << " values), " << model.inputs_size() << " inputs, loss '"
               << model.training().loss() << "' -> " << output << "\n";
}

/// The model as the plan embeds it for export: the graph, without stored parameter values
/// (an imported model's weights), which the plan's parameters hold already.
Model modelWithoutValues(const Model &model) {
  Model copy = model;
  for (Parameter &parameter : *copy.mutable_parameters())
    if (parameter.has_stored())
      parameter.clear_stored();
  return copy;
}

/// What nnc-recompute computed twice to fit --memory-budget (per pipeline stage, if cut), with
/// the FLOPs it adds to a call of the function.
void printRecomputed(ModuleOp module, const Plan &plan, llvm::raw_ostream &errs) {
  SmallVector<ModuleOp> modules = {module};
  module.walk([&](ModuleOp stage) {
    if (stage != module)
      modules.push_back(stage);
  });
  std::map<std::string, int64_t> flopsOf;
  for (const Function &function : plan.functions())
    flopsOf[function.name()] = function.flops();
  for (ModuleOp m : modules) {
    auto report = m->getAttrOfType<ArrayAttr>(attr::kRecomputed);
    if (!report)
      continue;
    for (auto entry : report.getAsRange<DictionaryAttr>()) {
      auto function = entry.getAs<StringAttr>("function").str();
      auto nodes = entry.getAs<ArrayAttr>("nodes");
      int64_t flops = entry.getAs<IntegerAttr>("flops").getInt(), base = flopsOf[function];
      errs << "nnc:   " << function << ": recomputed " << nodes.size()
           << " tensors to fit --memory-budget, " << flops << " more FLOPs per call";
      if (base > 0)
        errs << " (+" << llvm::format("%.1f", 100.0 * flops / base) << "%)";
      for (auto [i, node] : llvm::enumerate(nodes.getAsValueRange<StringAttr>())) {
        if (i == 6) {
          errs << " and " << nodes.size() - 6 << " more";
          break;
        }
        errs << (i ? ", " : ": ") << node;
      }
      errs << "\n";
    }
  }
}

/// Data parallelism's memory per rank, from the plan's parameter table: "per rank (2 ranks,
/// ZeRO-1): parameters P bytes, gradients G bytes, optimizer state S bytes (sharded: X of Y),
/// arena A bytes". Gradients are the trainable parameters' (temporaries of the arena, which also holds
/// the parameters and state); under ZeRO-1 a rank keeps 1/R of the optimizer state (issue 20).
std::string perRankMemory(const Model &model, const Plan &plan) {
  int64_t ranks = model.training().data_parallel().world_size();
  bool zero = model.training().data_parallel().zero_stage() == 1;
  llvm::StringSet<> frozen;
  for (const Parameter &parameter : model.parameters())
    if (parameter.frozen())
      frozen.insert(parameter.name());
  auto bytes = [](const TensorType &type) {
    int64_t count = 4; // f32
    for (int64_t dim : type.shape())
      count *= dim;
    return count;
  };
  // A slice is what this rank holds (f32): a tensor-parallel part, a ZeRO shard of one.
  int64_t parameters = 0, gradients = 0, state = 0, shards = 0, wholeOfShards = 0;
  for (const TensorSlice &entry : plan.parameters()) {
    if (entry.optimizer_state()) {
      state += entry.slice().size();
      if (entry.has_zero_logical()) {
        shards += entry.slice().size();
        wholeOfShards += bytes(entry.zero_logical()) / std::max<int64_t>(1, entry.shards());
      }
      continue;
    }
    parameters += entry.slice().size();
    if (!frozen.contains(entry.name()))
      gradients += entry.slice().size();
  }
  int64_t tensor = model.training().tensor_parallel();
  std::string line;
  llvm::raw_string_ostream os(line);
  os << "per rank (" << ranks << " ranks"
     << (tensor > 1 ? " x tensor " + std::to_string(tensor) : "") << (zero ? ", ZeRO-1" : "")
     << "): parameters "
     << parameters << " bytes, gradients " << gradients << " bytes, optimizer state " << state
     << " bytes";
  if (zero) // the rest (accumulators, the loss scale) is whole on every rank
    os << " (sharded: " << shards << " of " << wholeOfShards << ")";
  os << ", arena " << plan.arena_bytes() << " bytes";
  return line;
}

/// Tensor parallelism's per-rank memory: the parameter table (parameters and optimizer state)
/// against the whole model's, and the arena (each rank's parts and activations); a pipeline's
/// summed over its stages, with its largest stage's arena.
void printTensorParallelMemory(const Plan &plan, llvm::raw_ostream &errs) {
  std::vector<const Plan *> plans = {&plan};
  if (plan.pipeline().stages_size() > 0)
    plans.clear();
  for (const PipelineStage &stage : plan.pipeline().stages())
    plans.push_back(&stage.plan());
  int64_t held = 0, whole = 0, arena = 0;
  for (const Plan *part : plans) {
    for (const TensorSlice &parameter : part->parameters()) {
      held += parameter.slice().size();
      // Split parameters (f32 only) have the whole tensor as their type, so padded parts of a
      // vocabulary are not counted; a ZeRO shard's logical type is its whole tensor too.
      const TensorType *logical = parameter.has_zero_logical() ? &parameter.zero_logical()
                                  : parameter.shards() > 1     ? &parameter.type()
                                                               : nullptr;
      if (!logical) {
        whole += parameter.slice().size();
        continue;
      }
      int64_t bytes = 4;
      for (int64_t dim : logical->shape())
        bytes *= dim;
      whole += bytes;
    }
    arena = std::max(arena, part->arena_bytes());
  }
  errs << "nnc:   tensor parallel: " << plan.training().tensor_parallel()
       << " ranks, each holding " << held << " of the model's " << whole
       << " parameter bytes (optimizer state included); arena " << arena << " bytes per rank"
       << (plans.size() > 1 ? " (its largest stage)" : "") << "\n";
}

/// The plan phase: builds the plan, writes it (deterministic bytes), prints what it holds.
int writePlan(const Model &model, ModuleOp module, std::string output, KernelTarget kernels,
              bool printLaunchStats, int64_t memoryBudget, OneLineDiagnostics &diagnostics,
              llvm::raw_ostream &errs) {
  Plan plan;
  std::string modelBytes = serializeDeterministic(model);
  bool pipelined = model.training().pipeline().stages() > 1;
  if (failed(pipelined
                 ? buildPipelinePlan(module, model, modelBytes, hostCpuTarget(), plan, kernels)
                 : buildPlan(module, model, modelBytes, hostCpuTarget(), plan, kernels))) {
    if (!diagnostics.sawError())
      diagnostics.error("building the plan failed");
    return 1;
  }
  // nnc-recompute estimates the arena before the lowering decides which updates run in place.
  int64_t arena = plan.arena_bytes();
  for (const PipelineStage &stage : plan.pipeline().stages())
    arena = std::max(arena, stage.plan().arena_bytes());
  if (memoryBudget > 0 && arena > memoryBudget) {
    diagnostics.error("the arena takes " + std::to_string(arena) + " bytes, more than " +
                      "--memory-budget " + std::to_string(memoryBudget) +
                      " even after recomputation");
    return 1;
  }
  *plan.mutable_model() = modelWithoutValues(model);
  plan.set_checksum(planChecksum(plan));
  // Nothing is printed before the plan is in place: a closed stderr pipe would end nnc there.
  if (!writeOutput(output, serializeDeterministic(plan), errs))
    return 1;
  errs << "nnc: " << (model.name().empty() ? "model" : model.name()) << ": arena "
               << plan.arena_bytes() << " bytes peak, " << plan.parameters_size()
               << " parameters, " << plan.kernel_library().size() << " bytes of kernels for "
               << plan.metadata().target_cpu() << " -> " << output << "\n";
  printRecomputed(module, plan, errs);
  if (model.training().data_parallel().world_size() > 1 && plan.pipeline().stages_size() == 0)
    errs << "nnc:   " << perRankMemory(model, plan) << "\n"; // a pipeline's: per stage below
  // A CUDA plan's launches, for the roofline estimate and --print-launch-stats.
  std::vector<CudaLaunchStat> launches;
  CudaKernelLibrary library;
  bool cuda = kernels == KernelTarget::Cuda && library.ParseFromString(plan.kernel_library());
  if (cuda)
    launches = cudaLaunchStats(module, library);
  for (const Function &function : plan.functions())
    if (function.name() != "init") {
      errs << "nnc:   " << function.name() << ": " << function.flops()
                   << " FLOPs per call, " << function.commands_size() << " commands\n";
      if (cuda)
        errs << "nnc:   " << function.name() << ": " << printRoofline(function, module, launches)
             << "\n";
    }
  if (cuda && printLaunchStats)
    llvm::outs() << printCudaLaunchStats(launches);
  if (plan.training().tensor_parallel() > 1)
    printTensorParallelMemory(plan, errs);
  for (int s = 0; s < plan.pipeline().stages_size(); ++s) {
    const PipelineStage &stage = plan.pipeline().stages(s);
    errs << "nnc:   stage " << s << " ("
                 << stage.first_node() << " .. " << stage.last_node() << "): arena "
                 << stage.plan().arena_bytes() << " bytes, " << stage.plan().parameters_size()
                 << " parameters";
    for (const Function &function : stage.plan().functions())
      if (function.name() == "accumulate_step" || function.name() == "forward_step")
        errs << ", " << function.name() << " " << function.flops() << " FLOPs";
    errs << "\n";
  }
  return 0;
}

/// `--compile-to=plan` on stdout: the plan IR (each pipeline stage's plan in turn), without the
/// kernels, whose lowered form --compile-to=codegen prints.
int printPlanIr(ModuleOp module) {
  module.walk([](plan::PlanOp plan) {
    plan->print(llvm::outs());
    llvm::outs() << "\n";
  });
  return 0;
}

/// Help lists nnc's options and LLVM's generic ones (--help, --version); MLIR's and LLVM's
/// (hundreds of backend flags) stay behind --help-hidden, which HideUnrelatedOptions would hide
/// them from too.
void hideForeignOptions(llvm::cl::OptionCategory &category) {
  for (auto &[name, option] : llvm::cl::getRegisteredOptions())
    if (option->getOptionHiddenFlag() == llvm::cl::NotHidden &&
        llvm::none_of(option->Categories, [&](llvm::cl::OptionCategory *c) {
          return c == &category || c->getName() == "Generic Options";
        }))
      option->setHiddenFlag(llvm::cl::Hidden);
}

/// "500000000", "512M", "1.5G" (K, M, G: powers of 1024) as a positive byte count.
bool parseByteCount(llvm::StringRef text, int64_t &bytes) {
  double scale = 1;
  if (!text.empty() && llvm::StringRef("KMG").contains(std::toupper(text.back()))) {
    scale = std::pow(1024.0, llvm::StringRef("KMG").find(std::toupper(text.back())) + 1);
    text = text.drop_back();
  }
  double value;
  if (text.getAsDouble(value) || !(value > 0) || value * scale >= 9.2e18)
    return false;
  bytes = static_cast<int64_t>(value * scale);
  return bytes > 0;
}

int compileMain(int argc, char **argv) {
  llvm::cl::OptionCategory category("nnc compile options");
  llvm::cl::opt<std::string> input(llvm::cl::Positional, llvm::cl::desc("<model.pb|model.pbtxt|model.onnx>"),
                                   llvm::cl::Required, llvm::cl::cat(category));
  llvm::cl::opt<std::string> output("o", llvm::cl::desc("Output file (default: stdout; a plan is printed as plan IR there)"),
                                    llvm::cl::value_desc("file"), llvm::cl::init("-"),
                                    llvm::cl::cat(category));
  // cl::desc keeps a StringRef: the text must outlive the option.
  std::string compileToHelp = "Stop after this phase and print its IR: " + phaseList();
  llvm::cl::opt<std::string> compileTo(
      "compile-to", llvm::cl::desc(compileToHelp),
      llvm::cl::value_desc("phase"), llvm::cl::init("plan"), llvm::cl::cat(category));
  llvm::cl::opt<std::string> target(
      "target", llvm::cl::desc("Where the kernels run: cpu (native code for this machine) or cuda "
                               "(PTX for sm_90; --compile-to=codegen prints it)"),
      llvm::cl::value_desc("cpu|cuda"), llvm::cl::init("cpu"), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> dataParallel(
      "data-parallel",
      llvm::cl::desc("Data-parallel degree: all-reduce the gradients over the ranks "
                     "(overrides training.data_parallel.world_size; run with mpirun -np N)"),
      llvm::cl::value_desc("N"), llvm::cl::init(0), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> bucketBytes(
      "bucket-bytes",
      llvm::cl::desc("All-reduce bucket size in bytes (overrides "
                     "training.data_parallel.bucket_bytes; default 25 MiB)"),
      llvm::cl::value_desc("bytes"), llvm::cl::init(0), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> pipelineStages(
      "pipeline-stages",
      llvm::cl::desc("Pipeline parallelism: cut the model into N stages, one rank each "
                     "(overrides training.pipeline.stages; run with mpirun -np N)"),
      llvm::cl::value_desc("N"), llvm::cl::init(0), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> microBatches(
      "micro-batches",
      llvm::cl::desc("Micro-batches per update of a pipelined model (overrides "
                     "training.pipeline.micro_batches)"),
      llvm::cl::value_desc("M"), llvm::cl::init(0), llvm::cl::cat(category));
  llvm::cl::opt<std::string> stageBoundaries(
      "stage-boundaries",
      llvm::cl::desc("The nodes that end each pipeline stage but the last, comma-separated "
                     "(default: where the FLOPs split most evenly)"),
      llvm::cl::value_desc("node,..."), llvm::cl::init(""), llvm::cl::cat(category));
  llvm::cl::opt<bool> printLaunchStats(
      "print-launch-stats",
      llvm::cl::desc("With --target cuda: print each kernel launch's grid, block, threads and "
                     "the elements and bytes of its buffers (on stdout, or stderr when the output is)"),
      llvm::cl::init(false), llvm::cl::cat(category));
  llvm::cl::opt<bool> gpuIr(
      "gpu-ir",
      llvm::cl::desc("With --target cuda --compile-to=codegen: print the kernels mapped onto the "
                     "GPU (host functions of gpu.launch_func, one gpu.module) instead of PTX"),
      llvm::cl::init(false), llvm::cl::cat(category));
  llvm::cl::opt<std::string> memoryBudget(
      "memory-budget",
      llvm::cl::desc("The most bytes the plan's arena may take (parameters, optimizer state and "
                     "activations): activations are recomputed in the backward pass until it "
                     "fits. A byte count, or with a suffix K, M or G (powers of 1024)"),
      llvm::cl::value_desc("bytes"), llvm::cl::init(""), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> tensorParallel(
      "tensor-parallel",
      llvm::cl::desc("Tensor parallelism: split each MLP block and attention layer over T ranks "
                     "(overrides training.tensor_parallel; run with mpirun -np D*P*T)"),
      llvm::cl::value_desc("T"), llvm::cl::init(0), llvm::cl::cat(category));
  // Issue 23.
  enum class FuseAttention { Auto, All, Fp32, None };
  llvm::cl::opt<FuseAttention> fuseAttention(
      "fuse-attention",
      llvm::cl::desc("CPU plans: which models' causal attention becomes one op "
                     "(nnc-fuse-attention)"),
      llvm::cl::values(
          clEnumValN(FuseAttention::Auto, "auto",
                     "fp32 models; bf16/fp16 models too where the CPU has no AMX (default)"),
          clEnumValN(FuseAttention::All, "all", "every model"),
          clEnumValN(FuseAttention::Fp32, "fp32", "fp32 models only"),
          clEnumValN(FuseAttention::None, "none", "no model"),
          clEnumValN(FuseAttention::Auto, "true", "auto"),
          clEnumValN(FuseAttention::None, "false", "none")),
      llvm::cl::init(FuseAttention::Auto), llvm::cl::cat(category));
  llvm::cl::opt<int64_t> zeroStage(
      "zero",
      llvm::cl::desc("ZeRO stage with --data-parallel: 1 shards the optimizer state and update "
                     "over the ranks (overrides training.data_parallel.zero_stage)"),
      llvm::cl::value_desc("0|1"), llvm::cl::init(-1), llvm::cl::cat(category));
  ModelFlags modelFlags(category);
  registerPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  hideForeignOptions(category);
  llvm::cl::SetVersionPrinter(printVersion);
  // LLVM reports a bad flag over several lines (with "did you mean" guesses among LLVM's own
  // options); keep the first.
  std::string parseErrors;
  llvm::raw_string_ostream parseStream(parseErrors);
  if (!llvm::cl::ParseCommandLineOptions(argc, argv,
                                         "nnc compile: compile a model (--help-hidden also "
                                         "lists MLIR's and LLVM's options)\n",
                                         &parseStream)) {
    llvm::StringRef first = llvm::StringRef(parseErrors).split('\n').first;
    llvm::errs() << "nnc: error: " << first.drop_until([](char c) { return c == ':'; }).drop_front(2)
                 << "\n";
    return 1;
  }
  CompileRequest request;
  request.input = input;
  request.output = output;
  request.compileTo = compileTo;
  request.target = target;
  request.dataParallel = dataParallel;
  request.bucketBytes = bucketBytes;
  request.pipelineStages = pipelineStages;
  request.microBatches = microBatches;
  request.stageBoundaries = stageBoundaries;
  request.printLaunchStats = printLaunchStats;
  switch (fuseAttention) {
  case FuseAttention::Auto: break;
  case FuseAttention::All: request.fuseAttention = AttentionFusion::AllModels; break;
  case FuseAttention::Fp32: request.fuseAttention = AttentionFusion::Fp32Models; break;
  case FuseAttention::None: request.fuseAttention = AttentionFusion::None; break;
  }
  request.gpuIr = gpuIr;
  request.tensorParallel = tensorParallel;
  request.model = modelFlags.values();
  request.zeroStage = zeroStage;
  if (!memoryBudget.empty() && !parseByteCount(memoryBudget, request.memoryBudget)) {
    llvm::errs() << "nnc: error: --memory-budget=" << memoryBudget
                 << " is not a positive byte count (such as 500000000, 512M or 1.5G)\n";
    return 1;
  }
  return compileModel(request, llvm::errs());
}

/// The phase the request stops after, or an error line when its flags do not go together.
std::optional<PhaseInfo> checkRequest(const CompileRequest &request, llvm::raw_ostream &errs) {
  std::optional<PhaseInfo> phase = lookupPhase(request.compileTo);
  if (!phase) {
    errs << "nnc: error: --compile-to=" << request.compileTo << " is not a phase (phases: "
         << phaseList() << ")\n";
    return std::nullopt;
  }
  if (!phase->implemented) {
    errs << "nnc: error: phase '" << phase->name << "' is not implemented yet\n";
    return std::nullopt;
  }
  const std::string &target = request.target;
  if (target != "cpu" && target != "cuda") {
    errs << "nnc: error: --target=" << target << " is not a target (targets: cpu, cuda)\n";
    return std::nullopt;
  }
  if (request.printLaunchStats && target != "cuda") {
    errs << "nnc: error: --print-launch-stats needs --target cuda\n";
    return std::nullopt;
  }
  if (request.gpuIr && (target != "cuda" || phase->phase != Phase::Codegen)) {
    errs << "nnc: error: --gpu-ir needs --target cuda --compile-to=codegen\n";
    return std::nullopt;
  }
  return phase;
}

/// Whether `output`'s directory exists: a missing one is refused before compiling, not after.
bool outputDirectoryExists(const std::string &output, llvm::raw_ostream &errs) {
  if (output == "-")
    return true;
  std::string dir = llvm::sys::path::parent_path(output).str();
  struct stat info;
  int error = ::stat(dir.empty() ? "." : dir.c_str(), &info) != 0 ? errno
              : S_ISDIR(info.st_mode)                               ? 0
                                                                    : ENOTDIR;
  if (error)
    errs << "nnc: error: " << output << ": cannot write: " << std::strerror(error) << "\n";
  return !error;
}

/// The parallelism flags override the model's training spec.
/// --tensor-parallel T (what it does not combine with would be refused here in one line).
bool applyTensorParallelFlag(const CompileRequest &request, Model &model,
                             llvm::raw_ostream &errs) {
  if (request.tensorParallel < 0) {
    errs << "nnc: error: --tensor-parallel must not be negative\n";
    return false;
  }
  TrainingSpec *training = model.mutable_training();
  if (request.tensorParallel > 0)
    training->set_tensor_parallel(request.tensorParallel);
  // It combines with data and pipeline parallelism, ZeRO-1, accumulation, fp16 and bf16 (issue
  // 20): nothing is refused here today.
  return true;
}

bool applyParallelismFlags(const CompileRequest &request, Model &model, llvm::raw_ostream &errs) {
  if (request.dataParallel < 0 || request.bucketBytes < 0 || request.pipelineStages < 0 ||
      request.microBatches < 0) {
    errs << "nnc: error: --data-parallel, --bucket-bytes, --pipeline-stages and "
            "--micro-batches must not be negative\n";
    return false;
  }
  TrainingSpec *training = model.mutable_training();
  if (request.dataParallel > 0)
    training->mutable_data_parallel()->set_world_size(request.dataParallel);
  if (request.bucketBytes > 0)
    training->mutable_data_parallel()->set_bucket_bytes(request.bucketBytes);
  if (request.pipelineStages > 0)
    training->mutable_pipeline()->set_stages(request.pipelineStages);
  if (request.microBatches > 0)
    training->mutable_pipeline()->set_micro_batches(request.microBatches);
  if (!request.stageBoundaries.empty()) {
    auto *boundaries = training->mutable_pipeline()->mutable_stage_boundaries();
    boundaries->Clear();
    for (llvm::StringRef rest = request.stageBoundaries; !rest.empty();) {
      auto [name, tail] = rest.split(',');
      boundaries->Add(name.str());
      rest = tail;
    }
  }
  if (request.zeroStage != -1) // the importer checks the stage against the rest of the spec
    training->mutable_data_parallel()->set_zero_stage(request.zeroStage);
  return applyTensorParallelFlag(request, model, errs);
}

/// Tensor parallelism splits the forward pass before autodiff differentiates it; a pipelined
/// model's stages each after the pipeline split (docs/DESIGN.md says why in that order).
void addTensorParallelSplit(const Model &model, Phase last, OpPassManager &pm) {
  if (model.training().tensor_parallel() <= 1 || last < Phase::Autodiff)
    return;
  TensorParallelOptions split;
  split.ranks = model.training().tensor_parallel();
  pm.addPass(createTensorParallel(split));
}

/// Runs the phases after import up to `last` on `module`, timed under `timing` (--mlir-timing),
/// with the pass manager's command-line options.
LogicalResult runPhases(ModuleOp module, const Model &model, Phase last, KernelTarget kernels,
                        int64_t memoryBudget, AttentionFusion attention, TimingScope &timing) {
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  pm.enableTiming(timing);
  std::vector<std::string> modelParameters;
  for (const Parameter &parameter : model.parameters())
    modelParameters.push_back(parameter.name());
  bool cpuKernels = kernels == KernelTarget::Cpu;
  // A pipelined model is cut into stage modules first; each then compiles like a model.
  if (model.training().pipeline().stages() > 1 && last >= Phase::Autodiff) {
    pm.addPass(createPipelineSplit());
    addTensorParallelSplit(model, last, pm.nest<ModuleOp>());
    buildPipeline(last, pm.nest<ModuleOp>(), cpuKernels, modelParameters, memoryBudget,
                  attention);
    if (last == Phase::Plan) {
      SchedulePipelineOptions schedule;
      schedule.microBatches = model.training().pipeline().micro_batches();
      pm.addPass(createSchedulePipeline(schedule));
    }
  } else {
    addTensorParallelSplit(model, last, pm);
    buildPipeline(last, pm, cpuKernels, modelParameters, memoryBudget, attention);
  }
  return pm.run(module);
}

/// Prints (or writes to the output file) the IR of a phase before the plan: MLIR, the lowered
/// CPU kernels after codegen, or PTX (or the GPU-mapped IR) for CUDA.
int emitIr(OwningOpRef<ModuleOp> module, const CompileRequest &request, Phase phase,
           KernelTarget kernels, const Model &model, llvm::raw_ostream &errs) {
  const std::string &output = request.output;
  std::string ptx;
  if (request.gpuIr) {
    if (!(module = lowerKernelsToGpu(*module)))
      return 1;
  } else if (phase == Phase::Codegen && kernels == KernelTarget::Cuda) {
    CudaKernelLibrary library;
    if (failed(compileCudaKernels(*module, CudaTarget(), library)))
      return 1;
    ptx = printCudaKernelLibrary(library);
    if (request.printLaunchStats) // on stderr when the PTX takes stdout
      (output == "-" ? errs : llvm::outs()) << printCudaLaunchStats(cudaLaunchStats(*module, library));
  }
  // CPU codegen prints the lowered kernels (a pipelined model's are inside its stages: all of it).
  OwningOpRef<ModuleOp> printed = std::move(module);
  if (phase == Phase::Codegen && kernels == KernelTarget::Cpu)
    if (OwningOpRef<ModuleOp> lowered = loweredKernels(*printed))
      printed = std::move(lowered);

  if (output == "-") {
    if (!ptx.empty())
      llvm::outs() << ptx;
    else
      printed->print(llvm::outs());
    llvm::outs() << "\n";
    return 0;
  }
  std::string text = ptx;
  if (text.empty()) {
    llvm::raw_string_ostream os(text);
    printed->print(os);
  }
  if (!writeOutput(output, text + "\n", errs))
    return 1;
  printSummary(model, *printed, output, errs);
  return 0;
}

} // namespace

int compileModel(const CompileRequest &request, llvm::raw_ostream &errs) {
  // Idempotent, so that a process (the Python package) may compile more than once.
  registerPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  std::optional<PhaseInfo> phase = checkRequest(request, errs);
  if (!phase)
    return 1;
  KernelTarget kernels = request.target == "cuda" ? KernelTarget::Cuda : KernelTarget::Cpu;

  DialectRegistry registry;
  registerDialects(registry);
  MLIRContext context(registry);
  OneLineDiagnostics diagnostics(&context, request.input, errs);
  if (!outputDirectoryExists(request.output, errs))
    return 1;
  Model model;
  std::string readError;
  if (!loadModel(request.input, request.model, /*needLoss=*/true, model, readError)) {
    diagnostics.error(readError);
    return 1;
  }
  if (!applyParallelismFlags(request, model, errs))
    return 1;
  OwningOpRef<ModuleOp> module = importModel(model, &context, request.model.inference);
  if (!module) {
    if (!diagnostics.sawError())
      diagnostics.error("import failed");
    return 1;
  }
  DefaultTimingManager timing;
  applyDefaultTimingManagerCLOptions(timing);
  TimingScope timingScope = timing.getRootScope();
  // By default bf16 and fp16 attention is fused only where oneDNN cannot run the unfused
  // graph's GEMMs on AMX.
  AttentionFusion attention = request.fuseAttention.value_or(
      hostHasAmxBf16() ? AttentionFusion::Fp32Models : AttentionFusion::AllModels);
  if (failed(runPhases(*module, model, phase->phase, kernels, request.memoryBudget, attention,
                       timingScope))) {
    if (!diagnostics.sawError())
      diagnostics.error("compilation failed");
    return 1;
  }
  // The request holds copies of the flags: lld, which the plan phase runs in process, resets
  // every cl::opt to its default.
  if (phase->phase == Phase::Plan && request.output == "-")
    return printPlanIr(*module);
  if (phase->phase == Phase::Plan) {
    // Serializing and compiling the kernels (LLVM -O3, lld) happen outside the pass manager:
    // timed as one more entry of --mlir-timing's report.
    TimingScope planTiming = timingScope.nest("plan");
    return writePlan(model, *module, request.output, kernels, request.printLaunchStats,
                     request.memoryBudget, diagnostics, errs);
  }
  return emitIr(std::move(module), request, phase->phase, kernels, model, errs);
}

namespace {

/// `model` in protobuf text format, one line per top-level entry (graph input, parameter, node,
/// output) as hand-written models are.
std::string modelText(const Model &model) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  const google::protobuf::Reflection *reflection = model.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor *> fields;
  reflection->ListFields(model, &fields);
  std::string text;
  for (const google::protobuf::FieldDescriptor *field : fields) {
    int count = field->is_repeated() ? reflection->FieldSize(model, field) : 1;
    for (int i = 0; i < count; ++i) {
      std::string value;
      printer.PrintFieldValueToString(model, field, field->is_repeated() ? i : -1, &value);
      bool message = field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE;
      text += field->name() + (message ? " { " + value + "}\n" : ": " + value + "\n");
    }
  }
  return text;
}

/// `nnc import model.onnx [-o model.pbtxt]`: the nnc.Model in text format.
int importMain(int argc, char **argv) {
  llvm::cl::OptionCategory category("nnc import options");
  llvm::cl::opt<std::string> input(llvm::cl::Positional, llvm::cl::desc("<model.onnx>"),
                                   llvm::cl::cat(category));
  llvm::cl::opt<std::string> output("o", llvm::cl::desc("Output file (default: stdout)"),
                                    llvm::cl::value_desc("file"), llvm::cl::init("-"),
                                    llvm::cl::cat(category));
  llvm::cl::opt<bool> listOps("list-ops", llvm::cl::desc("List the ONNX ops nnc imports"),
                              llvm::cl::cat(category));
  ModelFlags modelFlags(category);
  llvm::cl::HideUnrelatedOptions(category);
  llvm::cl::SetVersionPrinter(printVersion);
  std::string parseErrors;
  llvm::raw_string_ostream parseStream(parseErrors);
  if (!llvm::cl::ParseCommandLineOptions(argc, argv, "nnc import: ONNX -> nnc.Model (text)\n",
                                         &parseStream)) {
    llvm::StringRef first = llvm::StringRef(parseErrors).split('\n').first;
    llvm::errs() << "nnc: error: " << first.drop_until([](char c) { return c == ':'; }).drop_front(2)
                 << "\n";
    return 1;
  }
  if (listOps) {
    llvm::outs() << "ONNX ops nnc imports (default domain, opsets 11 and later):\n";
    for (const auto &[op, becomes] : supportedOnnxOps())
      llvm::outs() << "  " << op << std::string(op.size() < 12 ? 12 - op.size() : 1, ' ')
                   << becomes << "\n";
    return 0;
  }
  if (input.empty()) {
    llvm::errs() << "nnc: error: nnc import needs a model file (or --list-ops)\n";
    return 1;
  }
  Model model;
  std::string error;
  if (!loadModel(input, modelFlags.values(), /*needLoss=*/false, model, error)) {
    llvm::errs() << "nnc: error: " << input << ": " << error << "\n";
    return 1;
  }
  std::string text =
      "# nnc import " + llvm::sys::path::filename(input.getValue()).str() + "\n" + modelText(model);
  if (output == "-") {
    llvm::outs() << text;
    return 0;
  }
  return writeOutput(output, text, llvm::errs()) ? 0 : 1;
}

} // namespace

int nncMain(int argc, char **argv) {
  llvm::StringRef command = argc > 1 ? argv[1] : "";
  if (command.empty() || command == "--help" || command == "-help" || command == "-h" ||
      command == "help") {
    llvm::outs() << kOverview;
    return command.empty() ? 1 : 0;
  }
  if (command == "--version") {
    printVersion(llvm::outs());
    return 0;
  }
  if (command != "compile" && command != "import") {
    llvm::errs() << "nnc: error: unknown command '" << command << "' (see 'nnc --help')\n";
    return 1;
  }
  // Let the command parse the rest as if it were the program: "nnc compile" in its messages.
  std::string program = std::string(argv[0]) + " " + command.str();
  std::vector<char *> args = {program.data()};
  args.insert(args.end(), argv + 2, argv + argc);
  return command == "compile" ? compileMain(static_cast<int>(args.size()), args.data())
                              : importMain(static_cast<int>(args.size()), args.data());
}

} // namespace nnc
