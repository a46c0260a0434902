// Elementwise producer-consumer fusion of linalg.generic ops (MLIR's patterns) and nnc's rule for
// a producer with several users: it moves into the first of them when all are in one block.
// The fused op also yields the producer's result for the later users, so nothing is computed
// twice, and what used to be separate passes over memory (the clipped gradient, then each AdamW
// moment, then the parameter) become one.
#include "compiler/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace nnc {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "compiler/Passes.h.inc"
} // namespace nnc

using namespace mlir;

namespace {

/// Whether fusing `producer` into `consumer` keeps the fused body within `maxBodyOps` ops (the
/// pass option; ops other than two linalg.generic ones, which MLIR's patterns also fuse, are not
/// limited). Each fusion clones both bodies into a new op, so fusing a chain of n elementwise ops
/// into one took time growing as n^2 (an 800-op chain: 40 s in this pass); past a few hundred
/// ops per element, one more pass over memory costs little beside the arithmetic.
bool fusedBodyFits(Operation *producer, Operation *consumer, size_t maxBodyOps) {
  auto p = dyn_cast_or_null<linalg::GenericOp>(producer);
  auto c = dyn_cast<linalg::GenericOp>(consumer);
  return !p || !c ||
         p.getBody()->getOperations().size() + c.getBody()->getOperations().size() <=
             maxBodyOps;
}

bool isAllParallel(linalg::GenericOp op) {
  return op.getNumParallelLoops() == op.getNumLoops();
}

/// Whether `consumer` may absorb `producer`, which has other users too: both all-parallel over
/// the same loops, the consumer reads the producer's results at its own indices and is the first
/// of the producer's users, all in one block, so that the fused op, in the consumer's place, can
/// yield the producer's results to the later users.
bool canAbsorb(linalg::GenericOp consumer, linalg::GenericOp producer, size_t maxBodyOps) {
  // A consumer that will itself fuse into its only user (a square into its sum) goes first:
  // absorbing the producer here would give it a second result and keep it out of that user.
  if (consumer->hasOneUse() && isa<linalg::GenericOp>(*consumer->getUsers().begin()))
    return false;
  if (!fusedBodyFits(producer, consumer, maxBodyOps))
    return false;
  if (!isAllParallel(consumer) || !isAllParallel(producer) ||
      consumer.getNumLoops() != producer.getNumLoops() ||
      consumer->getBlock() != producer->getBlock())
    return false;
  for (OpOperand &init : producer.getDpsInitsMutable())
    if (!producer.getMatchingIndexingMap(&init).isIdentity() ||
        !producer.getMatchingBlockArgument(&init).use_empty())
      return false;
  for (OpOperand &operand : consumer->getOpOperands())
    if (operand.get().getDefiningOp() == producer &&
        (!consumer.isDpsInput(&operand) || !consumer.getMatchingIndexingMap(&operand).isIdentity()))
      return false;
  return llvm::all_of(producer->getUsers(), [&](Operation *user) {
    return user == consumer.getOperation() ||
           (user->getBlock() == consumer->getBlock() && consumer->isBeforeInBlock(user));
  });
}

/// Fuses an elementwise producer that has several users into the first of them: one generic that
/// computes both payloads per element and yields the consumer's results, then the producer's that
/// later ops read. (MLIR's pattern would keep the producer for the other users and compute its
/// payload twice.)
struct FuseIntoFirstUser : OpRewritePattern<linalg::GenericOp> {
  FuseIntoFirstUser(MLIRContext *context, size_t maxBodyOps)
      : OpRewritePattern(context), maxBodyOps(maxBodyOps) {}
  size_t maxBodyOps;

  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    for (Value operand : consumer.getDpsInputs()) {
      auto producer = operand.getDefiningOp<linalg::GenericOp>();
      if (producer && !producer->hasOneUse() && canAbsorb(consumer, producer, maxBodyOps)) {
        fuse(consumer, producer, rewriter);
        return success();
      }
    }
    return failure();
  }

  static void fuse(linalg::GenericOp consumer, linalg::GenericOp producer,
                   PatternRewriter &rewriter) {
    SmallVector<Value> inputs(producer.getDpsInputs()), outputs(consumer.getDpsInits());
    SmallVector<AffineMap> inputMaps, outputMaps;
    for (OpOperand *input : producer.getDpsInputOperands())
      inputMaps.push_back(producer.getMatchingIndexingMap(input));
    SmallVector<OpOperand *> consumerInputs;
    for (OpOperand *input : consumer.getDpsInputOperands())
      if (input->get().getDefiningOp() != producer) {
        consumerInputs.push_back(input);
        inputs.push_back(input->get());
        inputMaps.push_back(consumer.getMatchingIndexingMap(input));
      }
    for (OpOperand &init : consumer.getDpsInitsMutable())
      outputMaps.push_back(consumer.getMatchingIndexingMap(&init));
    SmallVector<OpResult> preserved; // the producer's results that later ops read
    for (OpResult result : producer->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *u) { return u != consumer; })) {
        preserved.push_back(result);
        outputs.push_back(producer.getDpsInits()[result.getResultNumber()]);
        outputMaps.push_back(rewriter.getMultiDimIdentityMap(producer.getNumLoops()));
      }
    SmallVector<AffineMap> maps(inputMaps);
    maps.append(outputMaps);

    auto fused = linalg::GenericOp::create(
        rewriter, consumer.getLoc(), ValueRange(outputs).getTypes(), inputs, outputs, maps,
        consumer.getIteratorTypesArray(),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          IRMapping mapping;
          ValueRange producerArgs = args.take_front(producer.getNumDpsInputs());
          ValueRange consumerArgs = args.drop_front(producer.getNumDpsInputs());
          for (auto [from, to] : llvm::zip(producer.getBody()->getArguments(), producerArgs))
            mapping.map(from, to);
          for (Operation &op : producer.getBody()->without_terminator())
            b.clone(op, mapping);
          auto producerYield = cast<linalg::YieldOp>(producer.getBody()->getTerminator());
          for (OpOperand *input : consumer.getDpsInputOperands()) {
            BlockArgument arg = consumer.getMatchingBlockArgument(input);
            if (auto result = dyn_cast<OpResult>(input->get());
                result && result.getOwner() == producer)
              mapping.map(arg, mapping.lookupOrDefault(
                                   producerYield.getOperand(result.getResultNumber())));
          }
          unsigned next = 0;
          for (OpOperand *input : consumerInputs)
            mapping.map(consumer.getMatchingBlockArgument(input), consumerArgs[next++]);
          for (OpOperand &init : consumer.getDpsInitsMutable())
            mapping.map(consumer.getMatchingBlockArgument(&init), consumerArgs[next++]);
          for (Operation &op : consumer.getBody()->without_terminator())
            b.clone(op, mapping);
          SmallVector<Value> yields;
          for (Value v : consumer.getBody()->getTerminator()->getOperands())
            yields.push_back(mapping.lookupOrDefault(v));
          for (OpResult result : preserved)
            yields.push_back(mapping.lookupOrDefault(
                producerYield.getOperand(result.getResultNumber())));
          linalg::YieldOp::create(b, loc, yields);
        });
    unsigned consumerResults = consumer->getNumResults();
    rewriter.replaceOp(consumer, fused->getResults().take_front(consumerResults));
    for (auto [result, replacement] :
         llvm::zip(preserved, fused->getResults().drop_front(consumerResults)))
      rewriter.replaceAllUsesWith(result, replacement);
    rewriter.eraseOp(producer);
  }
};

struct FuseElementwisePass : nnc::impl::FuseElementwiseBase<FuseElementwisePass> {
  using FuseElementwiseBase::FuseElementwiseBase;

  void runOnOperation() override {
    // MLIR's elementwise fusion pass (-linalg-fuse-elementwise-ops), plus FuseIntoFirstUser.
    MLIRContext *context = &getContext();
    RewritePatternSet patterns(context);
    size_t maxBodyOps = this->maxBodyOps;
    linalg::ControlFusionFn singleUse = [maxBodyOps](OpOperand *operand) {
      Operation *producer = operand->get().getDefiningOp();
      return producer && producer->hasOneUse() &&
             fusedBodyFits(producer, operand->getOwner(), maxBodyOps);
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, singleUse);
    patterns.add<FuseIntoFirstUser>(context, maxBodyOps);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, singleUse);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, singleUse);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns),
                                     GreedyRewriteConfig().setUseTopDownTraversal())))
      signalPassFailure();
  }
};

} // namespace
