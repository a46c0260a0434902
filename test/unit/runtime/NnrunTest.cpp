// nnrun's command line, end to end on real files: a prediction with dumped parameters, training
// with its per-step losses, and every bad input turned into exactly one
// "nnrun: error: <file>: <problem>" line and exit code 1.
#include "TestSupport.h"

#include "runtime/Npy.h"
#include "runtime/tool/Nnrun.h"

#include <elf.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

namespace nnrt {
namespace {

using test::makeSlice;
using test::makeTensor;

/// y = 2 * (x @ w^T): a Gemm (2x8 @ (4x8)^T) then the test library's nnrt_test_double8 kernel.
nnc::Plan predictPlan() {
  nnc::Plan plan = test::makePlan(256);
  plan.set_kernel_library(test::testKernelLibrary());
  plan.mutable_metadata()->set_target_cpu("x86-64");
  plan.mutable_metadata()->add_cpu_features("sse2");
  *plan.add_parameters() = makeTensor("fc/weight", {4, 8}, 0);
  nnc::Function *init = plan.add_functions();
  init->set_name("init");
  nnc::InitParameter *ip = init->add_commands()->mutable_init_parameter();
  *ip->mutable_slice() = makeSlice(0, 128);
  *ip->mutable_type() = test::makeType(nnc::F32, {4, 8});
  ip->mutable_init()->set_kind(nnc::Initializer::KAIMING_UNIFORM);
  nnc::Function *predict = plan.add_functions();
  predict->set_name("predict");
  *predict->add_inputs() = makeTensor("x", {2, 8}, 128);
  *predict->add_outputs() = makeTensor("y", {2, 4}, 224);
  test::addGemm(predict, "fc", makeSlice(128, 64), makeSlice(0, 128), makeSlice(192, 32), 2, 4, 8,
                /*transposeB=*/true);
  nnc::Command *twice = predict->add_commands();
  twice->set_node("scale");
  twice->mutable_kernel()->set_symbol("nnrt_test_double8");
  *twice->mutable_kernel()->add_args() = makeSlice(192, 32);
  *twice->mutable_kernel()->add_args() = makeSlice(224, 32);
  return plan;
}

class NnrunTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = test::scratchDir();
    planPath = dir / "model.plan";
    inputPath = dir / "input.npy";
    outputPath = dir / "output.npy";
    writePlan(predictPlan());
    ASSERT_TRUE(writeNpy(inputPath, HostTensor::fromFloats({2, 8}, test::randomFloats(16, 3))).ok());
  }
  void writePlan(const nnc::Plan &plan) {
    ASSERT_TRUE(writeFile(planPath, test::planBytes(plan)).ok());
  }
  int nnrun(std::vector<std::string> args) {
    out.str("");
    err.str("");
    return nnrunMain(args, out, err);
  }
  /// Runs nnrun expecting failure; returns its one stderr line.
  std::string failure(std::vector<std::string> args) {
    EXPECT_EQ(nnrun(args), 1);
    std::string text = err.str();
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    EXPECT_EQ(out.str(), "");
    return text.substr(0, text.find('\n'));
  }

  std::filesystem::path dir;
  std::string planPath, inputPath, outputPath;
  std::ostringstream out, err;
};

TEST_F(NnrunTest, Help) {
  EXPECT_EQ(nnrun({"--help"}), 0);
  EXPECT_EQ(out.str().rfind("usage: nnrun MODEL.plan", 0), 0u);
  EXPECT_EQ(err.str(), "");
}

TEST_F(NnrunTest, PredictsWithDumpedParameters) {
  std::string params = dir / "params";
  ASSERT_EQ(nnrun({planPath, "--predict", inputPath, "-o", outputPath, "--dump-parameters",
                   params, "--print-arena"}),
            0)
      << err.str();
  EXPECT_EQ(out.str(), "arena: 256 bytes\n");
  EXPECT_EQ(err.str(), "");
  // '/' in a parameter name becomes '_' in its file name.
  auto weight = readNpy(params + "/fc_weight.npy");
  ASSERT_TRUE(weight.ok()) << weight.status().message();
  auto input = readNpy(inputPath);
  auto output = readNpy(outputPath);
  ASSERT_TRUE(output.ok()) << output.status().message();
  EXPECT_EQ(output->describe(), "[2,4] f32");
  GemmDesc d{1, 2, 4, 8, true, false, false, PostOp::None};
  std::vector<float> want = test::referenceGemm(d, input->toFloats(), weight->toFloats(), {});
  std::vector<float> got = output->toFloats();
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], 2 * want[i], 1e-5) << i; // k = 8 terms of magnitude < 1
}

TEST_F(NnrunTest, NullDeviceRunsWithoutComputing) {
  ASSERT_EQ(nnrun({planPath, "--device", "null", "--predict", inputPath, "-o", outputPath}), 0)
      << err.str();
  EXPECT_EQ(readNpy(outputPath)->toFloats(), std::vector<float>(8, 0.0f));
}

TEST_F(NnrunTest, RefusesBadCommandLines) {
  EXPECT_EQ(nnrun({}), 2);  // nothing asked: the error, then the usage
  EXPECT_EQ(err.str().rfind("nnrun: error: no plan given\nusage: nnrun MODEL.plan", 0), 0u)
      << err.str();
  EXPECT_EQ(nnrun({planPath}), 2);
  EXPECT_EQ(err.str().rfind("nnrun: error: " + planPath + ": loads, but nothing to do", 0), 0u)
      << err.str();
  EXPECT_EQ(nnrun({"--version"}), 0);
  EXPECT_EQ(out.str().rfind("nnrun ", 0), 0u);
  EXPECT_EQ(failure({planPath, "--frobnicate"}),
            "nnrun: error: --frobnicate: unknown option (see nnrun --help)");
  EXPECT_EQ(failure({planPath, "--predcit", inputPath}),
            "nnrun: error: --predcit: unknown option (did you mean --predict?) (see nnrun --help)");
  EXPECT_EQ(failure({planPath, "--predict"}), "nnrun: error: --predict: missing value");
  EXPECT_EQ(failure({planPath, "--predict", inputPath}),
            "nnrun: error: " + inputPath + ": --predict needs -o OUTPUT.npy");
  EXPECT_EQ(failure({planPath, "other.plan"}),
            "nnrun: error: other.plan: unexpected argument (nnrun runs one plan)");
  EXPECT_EQ(failure({planPath, "--device=tpu"}),
            "nnrun: error: --device: unknown device 'tpu' (available: cpu, null, cuda)");
}

TEST_F(NnrunTest, RefusesBadPlans) {
  EXPECT_EQ(failure({dir / "missing.plan"}),
            "nnrun: error: " + (dir / "missing.plan").string() +
                ": cannot read: No such file or directory");
  std::string bytes = test::planBytes(predictPlan());
  ASSERT_TRUE(writeFile(planPath, bytes.substr(0, bytes.size() - 100)).ok());
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": not a plan, or a truncated or corrupt one (protobuf "
                                     "parse failed)");
  ASSERT_TRUE(writeFile(planPath, "").ok());
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath + ": empty file, not a plan");
  nnc::Plan plan = predictPlan();
  plan.set_version(7);
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": plan version 7 is not supported (this nnrun reads "
                                     "version 1)");
  plan = predictPlan();
  plan.mutable_metadata()->add_cpu_features("frobnicate");
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": plan needs CPU feature 'frobnicate' which this nnrun "
                                     "cannot check (compiled for x86-64)");
  plan = predictPlan();
  plan.mutable_functions(1)->mutable_commands(1)->mutable_kernel()->set_symbol("gone");
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": function 'predict', node 'scale': the kernel library "
                                     "does not export 'gone'");
  plan = predictPlan();
  plan.set_kernel_library("\177ELF and then nothing useful");
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": the kernel library is truncated (no ELF header)");
  // A damaged library whose checksum was recomputed: checked before dlopen maps it (which
  // faulted: SIGBUS in the loader).
  std::string library = test::testKernelLibrary();
  plan = predictPlan();
  plan.set_kernel_library(library.substr(0, library.size() / 2));
  writePlan(plan);
  std::string message = failure({planPath});
  EXPECT_NE(message.find("lies outside its " + std::to_string(library.size() / 2) + " bytes"),
            std::string::npos)
      << message;
  Elf64_Ehdr header;
  std::memcpy(&header, library.data(), sizeof header);
  Elf64_Phdr segment;
  std::memcpy(&segment, library.data() + header.e_phoff, sizeof segment);
  segment.p_offset = uint64_t(1) << 40;  // far past the end
  std::memcpy(library.data() + header.e_phoff, &segment, sizeof segment);
  plan.set_kernel_library(library);
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": the kernel library's segment 0 lies outside its " +
                                     std::to_string(library.size()) + " bytes");
  library[18] = 3;  // e_machine: not x86-64
  plan.set_kernel_library(library);
  writePlan(plan);
  EXPECT_EQ(failure({planPath}), "nnrun: error: " + planPath +
                                     ": the kernel library is not a 64-bit x86 ELF shared object");
}

TEST_F(NnrunTest, RefusesBadInputs) {
  // Any number of rows is fine (batch by batch); other trailing dimensions or dtypes are not.
  ASSERT_TRUE(writeNpy(inputPath, HostTensor::fromFloats({3, 9}, std::vector<float>(27))).ok());
  EXPECT_EQ(failure({planPath, "--predict", inputPath, "-o", outputPath}),
            "nnrun: error: " + inputPath +
                ": expected shape [2,8] f32, got [3,9] f32 (or any number of rows)");
  ASSERT_TRUE(writeNpy(inputPath, HostTensor(nnc::I64, {2, 8})).ok());
  EXPECT_EQ(failure({planPath, "--predict", inputPath, "-o", outputPath}),
            "nnrun: error: " + inputPath +
                ": expected shape [2,8] f32, got [2,8] i64 (or any number of rows)");
  ASSERT_TRUE(writeFile(inputPath, "1,2,3\n").ok());
  EXPECT_EQ(failure({planPath, "--predict", inputPath, "-o", outputPath}),
            "nnrun: error: " + inputPath + ": not a .npy file");
  // A predict of two inputs takes one .npy each.
  nnc::Plan plan = predictPlan();
  *plan.mutable_functions(1)->add_inputs() = makeTensor("x2", {2, 8}, 128);
  writePlan(plan);
  ASSERT_TRUE(writeNpy(inputPath, HostTensor::fromFloats({2, 8}, std::vector<float>(16))).ok());
  EXPECT_EQ(failure({planPath, "--predict", inputPath, "-o", outputPath}),
            "nnrun: error: --predict: the plan's predict takes 2 inputs (x, x2): give one .npy "
            "each, comma-separated");
  EXPECT_FALSE(std::filesystem::exists(outputPath));
}

/// nnrun --train on test::trainPlan with three batches of (x, y) as .npy files.
class NnrunTrainTest : public NnrunTest {
protected:
  void SetUp() override {
    NnrunTest::SetUp();
    writePlan(test::trainPlan());
    featuresPath = dir / "x.npy";
    labelsPath = dir / "y.npy";
    x = test::randomFloats(24, 5);
    ASSERT_TRUE(writeNpy(featuresPath, HostTensor::fromFloats({6, 4}, x)).ok());
    ASSERT_TRUE(writeNpy(labelsPath, labelTensor(labels)).ok());
  }
  static HostTensor labelTensor(const std::vector<int64_t> &values) {
    HostTensor tensor(nnc::I64, {int64_t(values.size())});
    std::memcpy(tensor.data.data(), values.data(), tensor.data.size());
    return tensor;
  }
  std::vector<std::string> trainArgs(const std::string &steps) {
    return {planPath, "--train", steps, "--features", featuresPath, "--labels", labelsPath};
  }
  /// The losses printed as "step <i> loss <value>", checking the step numbers.
  std::vector<double> printedLosses() {
    std::istringstream lines(out.str());
    std::vector<double> losses;
    std::string step, loss;
    int64_t i = 0;
    double value = 0;
    while (lines >> step >> i >> loss >> value) {
      EXPECT_EQ(step, "step");
      EXPECT_EQ(loss, "loss");
      EXPECT_EQ(i, int64_t(losses.size()));
      losses.push_back(value);
    }
    return losses;
  }

  std::string featuresPath, labelsPath;
  std::vector<float> x;
  std::vector<int64_t> labels = {2, 0, -1, 1, 3, -2};
};

TEST_F(NnrunTrainTest, PrintsEachStepsLossAndDumpsTrainedParameters) {
  std::vector<std::string> args = trainArgs("5");
  args.insert(args.end(), {"--lr", "0.05", "--batch-order", "sequential", "--dump-parameters",
                           dir / "trained"});
  ASSERT_EQ(nnrun(args), 0) << err.str();
  EXPECT_EQ(err.str(), "");
  EXPECT_EQ(out.str().rfind("step 0 loss ", 0), 0u) << out.str();
  std::vector<double> w(test::kTrainInitialW.begin(), test::kTrainInitialW.end());
  std::vector<double> want = test::referenceTraining(x, labels, 5, 0.05, w);
  std::vector<double> got = printedLosses();
  ASSERT_EQ(got.size(), want.size()) << out.str();
  // As TrainLoopTest: f32 rounding over a few short sums, far below a wrong batch's effect.
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i]))) << i;
  auto trained = readNpy(dir / "trained" / "w.npy");
  ASSERT_TRUE(trained.ok()) << trained.status().message();
  EXPECT_EQ(trained->describe(), "[4,1] f32");
  for (size_t j = 0; j < 4; ++j)
    EXPECT_NEAR(trained->toFloats()[j], w[j], 1e-5) << j;
}

TEST_F(NnrunTrainTest, LoadsParametersBeforeTrainingAndPredictsAfter) {
  std::string params = dir / "params";
  std::filesystem::create_directories(params);
  std::vector<float> start = {0, 1, 0, -1};
  ASSERT_TRUE(writeNpy(params + "/w.npy", HostTensor::fromFloats({4, 1}, start)).ok());
  // predict takes one batch: the first.
  ASSERT_TRUE(writeNpy(inputPath, HostTensor::fromFloats({2, 4}, x)).ok());
  std::vector<std::string> args = trainArgs("2");
  args.insert(args.end(), {"--lr=0.5", "--load-parameters", params, "--predict", inputPath, "-o",
                           outputPath});
  ASSERT_EQ(nnrun(args), 0) << err.str();
  std::vector<double> w(start.begin(), start.end());
  std::vector<double> want = test::referenceTraining(x, labels, 2, 0.5, w);
  std::vector<double> got = printedLosses();
  ASSERT_EQ(got.size(), 2u) << out.str();
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i]))) << i;
  auto prediction = readNpy(outputPath);
  ASSERT_TRUE(prediction.ok()) << prediction.status().message();
  for (size_t i = 0; i < 2; ++i) {
    double sum = 0;
    for (size_t j = 0; j < 4; ++j)
      sum += double(x[i * 4 + j]) * w[j];
    EXPECT_NEAR(prediction->toFloats()[i], sum, 1e-5) << i; // with the trained w
  }
}

TEST_F(NnrunTrainTest, NullDeviceTrainsWithoutComputing) {
  ASSERT_EQ(nnrun({planPath, "--device", "null", "--train", "2", "--features", featuresPath,
                   "--labels", labelsPath}),
            0)
      << err.str();
  EXPECT_EQ(out.str(), "step 0 loss 0\nstep 1 loss 0\n");
}

TEST_F(NnrunTrainTest, RefusesBadTrainingRuns) {
  EXPECT_EQ(failure(trainArgs("0")),
            "nnrun: error: --train: expects a step count from 1 to 1000000000, got '0'");
  EXPECT_EQ(failure(trainArgs("ten")),
            "nnrun: error: --train: expects a step count from 1 to 1000000000, got 'ten'");
  EXPECT_EQ(failure({planPath, "--train", "3", "--features", featuresPath}),
            "nnrun: error: --train needs --features X.npy and --labels Y.npy");
  EXPECT_EQ(failure({planPath, "--labels", labelsPath}),
            "nnrun: error: --labels: needs --train STEPS");
  EXPECT_EQ(failure({planPath, "--lr", "0.1"}), "nnrun: error: --lr: needs --train STEPS or --fit");
  std::vector<std::string> args = trainArgs("3");
  args.insert(args.end(), {"--lr", "fast"});
  EXPECT_EQ(failure(args), "nnrun: error: --lr: expects a finite number, got 'fast'");
  args = trainArgs("3");
  args.insert(args.end(), {"--batch-order", "shuffled"});
  EXPECT_EQ(failure(args),
            "nnrun: error: --batch-order: unknown order 'shuffled' (available: sequential)");

  std::string missing = dir / "missing.npy";
  EXPECT_EQ(failure({planPath, "--train", "3", "--features", missing, "--labels", labelsPath}),
            "nnrun: error: " + missing + ": cannot read: No such file or directory");
  ASSERT_TRUE(writeNpy(labelsPath, labelTensor({1, 2, 3, 4, 5})).ok());
  EXPECT_EQ(failure(trainArgs("3")),
            "nnrun: error: " + labelsPath + ": 5 rows are not a whole number of batches of 2 "
                                            "(train_step input 'y' [2] i64)");
  ASSERT_TRUE(writeNpy(labelsPath, HostTensor::fromFloats({6}, {})).ok());
  EXPECT_EQ(failure(trainArgs("3")),
            "nnrun: error: " + labelsPath + ": expected [N*2] i64 (batches of train_step input "
                                            "'y' [2] i64 stacked along axis 0), got [6] f32");

  writePlan(predictPlan());
  EXPECT_EQ(failure(trainArgs("3")),
            "nnrun: error: " + planPath + ": the plan has no function 'train_step'");
}

TEST_F(NnrunTest, BinaryExitsWithOneLine) {
  ASSERT_TRUE(writeFile(planPath, "garbage").ok());
  std::string errPath = dir / "stderr.txt";
  std::string command = std::string(NNRUN_BINARY) + " '" + planPath + "' 2>'" + errPath + "'";
  int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  auto text = readFile(errPath);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "nnrun: error: " + planPath +
                       ": not a plan, or a truncated or corrupt one (protobuf parse failed)\n");
}

} // namespace
} // namespace nnrt
