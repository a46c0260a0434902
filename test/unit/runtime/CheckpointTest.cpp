// Checkpoints: a round trip keeps every bit, damage is reported by the tensor or field it hit,
// the atomic write leaves no temporary file, and a checkpoint whose tensors do not fit is refused.
#include "TestSupport.h"

#include "runtime/trainer/Checkpoint.h"

#include <cmath>
#include <limits>

namespace nnrt::trainer {
namespace {

Checkpoint sample() {
  Checkpoint c;
  c.modelSha256 = "abc123";
  c.state.seed = 42;
  c.state.step = 17;
  c.state.epoch = 2;
  c.state.batchInEpoch = 3;
  c.state.epochLossSum = 0.1 + 0.2;  // not representable in decimal: hex floats must keep it
  c.state.plateau.scale = 0.01;
  c.state.plateau.badEvals = 1;
  c.state.bestEpoch = 2;
  c.state.bestLoss = 0.3;
  c.tensors.emplace_back("fc/weight", HostTensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6}));
  c.tensors.emplace_back("fc/weight.adam_m", HostTensor::fromFloats({2, 3}, {}));
  c.tensors.emplace_back("best/fc/weight", HostTensor::fromFloats({2, 3}, {6, 5, 4, 3, 2, 1}));
  return c;
}

std::string parseError(std::string_view bytes) {
  nnc::StatusOr<Checkpoint> parsed = parseCheckpoint(bytes, "last.ckpt");
  return parsed.ok() ? "ok" : parsed.status().message();
}

TEST(CheckpointTest, RoundTripKeepsEveryBit) {
  Checkpoint c = sample();
  nnc::StatusOr<Checkpoint> back = parseCheckpoint(serializeCheckpoint(c), "x.ckpt");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->modelSha256, "abc123");
  EXPECT_EQ(back->state.step, 17);
  EXPECT_EQ(back->state.batchInEpoch, 3);
  EXPECT_EQ(back->state.epochLossSum, 0.1 + 0.2);
  EXPECT_EQ(back->state.plateau.scale, 0.01);
  EXPECT_TRUE(std::isinf(back->state.plateau.bestLoss));
  EXPECT_EQ(back->state.bestEpoch, 2);
  ASSERT_EQ(back->tensors.size(), 3u);
  EXPECT_EQ(back->tensors[2].first, "best/fc/weight");
  EXPECT_EQ(back->tensors[2].second.data, c.tensors[2].second.data);
  EXPECT_EQ(serializeCheckpoint(*back), serializeCheckpoint(c));
}

TEST(CheckpointTest, PositionsOutOfRangeAreRefused) {
  // Well formed and checksummed, but a step no run reaches (the trainer's arithmetic on it
  // would overflow).
  Checkpoint c = sample();
  c.state.step = std::numeric_limits<int64_t>::max();
  nnc::StatusOr<Checkpoint> back = parseCheckpoint(serializeCheckpoint(c), "x.ckpt");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(),
            "x.ckpt: field 'step' is out of range (9223372036854775807)");
  c = sample();
  c.state.epoch = -3;
  back = parseCheckpoint(serializeCheckpoint(c), "x.ckpt");
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().message(), "x.ckpt: field 'epoch' is out of range (-3)");
}

TEST(CheckpointTest, DamageNamesTheTensor) {
  std::string bytes = serializeCheckpoint(sample());
  // Flip a byte inside the first tensor's data (it ends 8 + 8 bytes before the second record).
  size_t at = bytes.find("fc/weight.adam_m") - 4 - 8 - 4;
  bytes[at] ^= 1;
  EXPECT_EQ(parseError(bytes), "last.ckpt: tensor 'fc/weight' is corrupt (checksum mismatch)");
}

TEST(CheckpointTest, DamageNamesTheState) {
  std::string bytes = serializeCheckpoint(sample());
  bytes[bytes.find("step 17") + 5] = '9';
  EXPECT_EQ(parseError(bytes), "last.ckpt: the state record is corrupt (checksum mismatch)");
}

TEST(CheckpointTest, TruncationNamesTheRecord) {
  std::string bytes = serializeCheckpoint(sample());
  std::string cut = bytes.substr(0, bytes.find("best/fc/weight") + 30);
  EXPECT_EQ(parseError(cut), "last.ckpt: truncated in tensor 'best/fc/weight'");
  EXPECT_EQ(parseError(bytes.substr(0, 3)), "last.ckpt: not an nnrun checkpoint (bad magic)");
  // Dropping the whole last record leaves every record intact; the file checksum notices.
  std::string dropped = bytes.substr(0, bytes.find("best/fc/weight") - 4) +
                        bytes.substr(bytes.size() - 8);
  EXPECT_EQ(parseError(dropped), "last.ckpt: the file checksum does not match (records were "
                                 "reordered, added or removed)");
}

TEST(CheckpointTest, AtomicWriteLeavesOnlyTheFile) {
  std::filesystem::path dir = test::scratchDir();
  std::string path = dir / "last.ckpt";
  ASSERT_TRUE(writeCheckpoint(path, sample()).ok());
  Checkpoint second = sample();
  second.state.step = 18;
  ASSERT_TRUE(writeCheckpoint(path, second).ok());
  int files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir))
    files += entry.path().filename() == "last.ckpt" ? 1 : 100;
  EXPECT_EQ(files, 1);
  nnc::StatusOr<Checkpoint> back = readCheckpoint(path);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->state.step, 18);
  EXPECT_EQ(writeCheckpoint((dir / "missing" / "x.ckpt").string(), sample()).message(),
            (dir / "missing" / "x.ckpt").string() + ": cannot write: No such file or directory");
}

TEST(CheckpointTest, RefusesAnotherModelOrAMissingTensor) {
  nnc::Plan plan;
  plan.mutable_metadata()->set_model_sha256("abc123");
  *plan.add_parameters() = test::makeTensor("fc/weight", {2, 3}, 0);
  Checkpoint c = sample();
  EXPECT_TRUE(checkCheckpointFits(c, plan, "last.ckpt").ok());
  *plan.add_parameters() = test::makeTensor("fc/bias", {3}, 24);
  EXPECT_EQ(checkCheckpointFits(c, plan, "last.ckpt").message(),
            "last.ckpt: tensor 'fc/bias' is missing");
  plan.mutable_parameters()->RemoveLast();
  *plan.mutable_parameters(0) = test::makeTensor("fc/weight", {3, 2}, 0);
  EXPECT_EQ(checkCheckpointFits(c, plan, "last.ckpt").message(),
            "last.ckpt: tensor 'fc/weight': expected shape [3,2] f32, got [2,3] f32");
  // Another model file with the same parameters (another batch size, another data-parallel
  // degree) fits: the tensors are what must match.
  *plan.mutable_parameters(0) = test::makeTensor("fc/weight", {2, 3}, 0);
  plan.mutable_metadata()->set_model_sha256("def456");
  EXPECT_TRUE(checkCheckpointFits(c, plan, "last.ckpt").ok());
}

} // namespace
} // namespace nnrt::trainer
