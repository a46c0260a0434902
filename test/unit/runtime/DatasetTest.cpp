// Datasets: IDX (gzipped and not), CSV and text parsing, the validation split and normalization
// from the training split only, the per-example shape check, label ranges, the seeded order and
// the padded batches.
#include "TestSupport.h"

#include "runtime/Npy.h"
#include "runtime/trainer/Batches.h"
#include "runtime/trainer/Dataset.h"
#include "runtime/trainer/Shuffle.h"

#include <zlib.h>

namespace nnrt::trainer {
namespace {

/// An IDX file of u8 values with the given dimensions; `cut` bytes removed from the end.
std::string idxBytes(const Shape &dims, int rank, size_t cut = 0) {
  std::string bytes = {0, 0, 0x08, char(rank)};
  int64_t count = 1;
  for (int64_t d : dims) {
    for (int shift : {24, 16, 8, 0})
      bytes += char((d >> shift) & 0xff);
    count *= d;
  }
  for (int64_t i = 0; i < count; ++i)
    bytes += char(i % 10);
  return bytes.substr(0, bytes.size() - cut);
}

void writeGzip(const std::string &path, const std::string &bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

ModelInputs mlpInputs(Shape features = {4, 6}, int64_t classes = 10) {
  ModelInputs model;
  model.features = test::makeType(nnc::F32, features);
  model.labels = test::makeType(nnc::I64, {features[0]});
  model.numClasses = classes;
  return model;
}

class DatasetTest : public ::testing::Test {
protected:
  void SetUp() override { dir = test::scratchDir(); }
  std::string path(const std::string &name) { return (dir / name).string(); }
  std::string loadError(const DataSpec &spec, const ModelInputs &model) {
    nnc::StatusOr<DataSplits> splits = loadData(spec, model);
    return splits.ok() ? "ok" : splits.status().message();
  }
  std::filesystem::path dir;
};

TEST_F(DatasetTest, IdxGzippedOrNot) {
  writeGzip(path("train-images-idx3-ubyte.gz"), idxBytes({5, 2, 3}, 3));
  ASSERT_TRUE(writeFile(path("train-labels-idx1-ubyte"), idxBytes({5}, 1)).ok());
  nnc::StatusOr<Dataset> data =
      loadIdx(path("train-images-idx3-ubyte.gz"), path("train-labels-idx1-ubyte"));
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->features.shape, (Shape{5, 2, 3}));
  EXPECT_FLOAT_EQ(data->features.toFloats()[7], 7 / 255.0f);
  EXPECT_EQ(reinterpret_cast<const int64_t *>(data->labels.data.data())[3], 3);

  // Through loadData: reshaped to the plan's (B, 6) input, normalized with the training
  // pixels' mean and std (so they have mean 0).
  DataSpec spec;
  spec.source = dir.string();
  nnc::StatusOr<DataSplits> splits = loadData(spec, mlpInputs());
  ASSERT_TRUE(splits.ok()) << splits.status().message();
  EXPECT_EQ(splits->train.features.shape, (Shape{5, 6}));
  double sum = 0;
  for (float x : splits->train.features.toFloats())
    sum += x;
  EXPECT_NEAR(sum, 0, 1e-4);
  EXPECT_EQ(splits->test.size(), 0);
}

TEST_F(DatasetTest, IdxErrorsNameTheFile) {
  writeGzip(path("train-images-idx3-ubyte.gz"), idxBytes({5, 2, 3}, 3, /*cut=*/4));
  ASSERT_TRUE(writeFile(path("train-labels-idx1-ubyte"), idxBytes({5}, 1)).ok());
  DataSpec spec;
  spec.source = dir.string();
  EXPECT_EQ(loadError(spec, mlpInputs()),
            path("train-images-idx3-ubyte.gz") +
                ": truncated: the header says [5,2,3] (30 bytes), the file holds 26");
  // A gzip stream cut short.
  std::string gz = *readFile(path("train-images-idx3-ubyte.gz"));
  ASSERT_TRUE(writeFile(path("train-images-idx3-ubyte.gz"), gz.substr(0, gz.size() - 6)).ok());
  EXPECT_EQ(loadError(spec, mlpInputs()).rfind(path("train-images-idx3-ubyte.gz") +
                                                   ": corrupt or truncated gzip data",
                                               0),
            0u);
  writeGzip(path("train-images-idx3-ubyte.gz"), idxBytes({5, 2, 3}, 3));
  EXPECT_EQ(loadError(spec, mlpInputs({4, 8})),
            path("train-images-idx3-ubyte.gz") + ": features are [2,3] (6 values) per example "
                                                 "but the plan's features input takes [8] (8 values)");
  EXPECT_EQ(loadError(spec, mlpInputs({4, 6}, 3)),
            path("train-labels-idx1-ubyte") +
                ": label 3 (element 3) is out of range for 3 classes (the logits' last dimension)");
  // Dimensions whose product overflows int64 were reported as "(-1 bytes)".
  std::string huge = std::string("\0\0\x08\x03", 4) + std::string(12, '\xff');
  ASSERT_TRUE(writeFile(path("huge-images"), huge).ok());
  EXPECT_EQ(loadIdx(path("huge-images"), path("train-labels-idx1-ubyte")).status().message(),
            path("huge-images") + ": the header's dimensions [4294967295,4294967295,4294967295] "
                                  "overflow a 64-bit size");
  spec.source = path("empty");
  std::filesystem::create_directories(spec.source);
  EXPECT_EQ(loadError(spec, mlpInputs()),
            spec.source + ": holds no IDX training set (expected train-images-idx3-ubyte[.gz] "
                          "and train-labels-idx1-ubyte[.gz])");
}

TEST_F(DatasetTest, CsvStandardizesWithTrainingStatistics) {
  std::string csv = "a,label,b\n";
  for (int i = 0; i < 10; ++i)
    csv += std::to_string(i) + "," + std::to_string(i % 3) + "," + std::to_string(100 + 2 * i) +
           "\n";
  ASSERT_TRUE(writeFile(path("t.csv"), csv).ok());
  ASSERT_TRUE(writeFile(path("test.csv"), "a,label,b\n1000,0,100\n").ok());
  DataSpec spec;
  spec.source = path("t.csv");
  spec.testSource = path("test.csv");
  spec.valFraction = 0.2;
  spec.seed = 7;
  nnc::StatusOr<DataSplits> splits = loadData(spec, mlpInputs({2, 2}, 3));
  ASSERT_TRUE(splits.ok()) << splits.status().message();
  EXPECT_EQ(splits->train.size(), 8);
  EXPECT_EQ(splits->validation.size(), 2);
  // Each training column has mean 0 and std 1; the test row uses the same statistics.
  std::vector<float> x = splits->train.features.toFloats();
  double a = 0, b = 0, aa = 0;
  for (int i = 0; i < 8; ++i)
    a += x[2 * i], b += x[2 * i + 1], aa += x[2 * i] * x[2 * i];
  EXPECT_NEAR(a, 0, 1e-5);
  EXPECT_NEAR(b, 0, 1e-5);
  EXPECT_NEAR(aa / 8, 1, 1e-5);
  EXPECT_GT(splits->test.features.toFloats()[0], 100);  // 1000, far outside the training range

  ASSERT_TRUE(writeFile(path("bad.csv"), "a,label,b\n1,0,2\n3,1,x7\n").ok());
  spec = DataSpec();
  spec.source = path("bad.csv");
  EXPECT_EQ(loadError(spec, mlpInputs({2, 2}, 3)),
            path("bad.csv") + ": line 3, column 'b': 'x7' is not a number");
  spec.labelColumn = "y";
  EXPECT_EQ(loadError(spec, mlpInputs({2, 2}, 3)),
            path("bad.csv") + ": no column named 'y' in the header (choose one with --label-column)");
  ASSERT_TRUE(writeFile(path("empty.csv"), "a,label,b\n").ok());
  spec = DataSpec();
  spec.source = path("empty.csv");
  EXPECT_EQ(loadError(spec, mlpInputs({2, 2}, 3)),
            path("empty.csv") + ": holds no examples (only a header)");
}

// Cases the CSV fuzzer (test/fuzz) found: a label beyond int64 (its conversion was undefined) and
// a NUL inside a cell (strtod stopped there, so "2<NUL>junk" read as 2).
TEST(CsvTest, RefusesLabelsBeyondInt64AndCellsWithNul) {
  EXPECT_EQ(parseCsv("label,x\n1e300,1\n", "t.csv", "label", nnc::I64).status().message(),
            "t.csv: line 2, column 'label': label '1e300' is not an integer class");
  EXPECT_EQ(parseCsv(std::string("label,x\n1,2\0junk\n", 17), "t.csv", "label", nnc::I64)
                .status().message(),
            "t.csv: line 2, column 'x': the cell holds a NUL byte");
  EXPECT_EQ(parseCsv("label,x\n1e300,1\n", "t.csv", "label", nnc::F32).status().message(),
            "t.csv: line 2, column 'label': '1e300' is not a finite float "
            "(--allow-nonfinite-inputs accepts it)");
  EXPECT_TRUE(parseCsv("label,x\n-3,1\n", "t.csv", "label", nnc::I64).ok());
}

TEST_F(DatasetTest, TextWindowsShiftTargetsByOne) {
  ASSERT_TRUE(writeFile(path("t.txt"), "abcdefghijklmnopqrstuvwxyz0123").ok());  // 30 bytes
  nnc::StatusOr<DataSplits> splits = loadText(path("t.txt"), 4, 128, 0.2);
  ASSERT_TRUE(splits.ok()) << splits.status().message();
  // 24 training bytes: (24 - 1) / 4 = 5 windows; 6 validation bytes: 1 window.
  EXPECT_EQ(splits->train.features.shape, (Shape{5, 4}));
  EXPECT_EQ(splits->validation.size(), 1);
  const auto *x = reinterpret_cast<const int64_t *>(splits->train.features.data.data());
  const auto *y = reinterpret_cast<const int64_t *>(splits->train.labels.data.data());
  EXPECT_EQ(x[4], 'e');
  EXPECT_EQ(y[4], 'f');
  EXPECT_EQ(y[19], 'u');
  nnc::StatusOr<DataSplits> small = loadText(path("t.txt"), 4, 100, 0.2);
  EXPECT_EQ(small.status().message(),
            path("t.txt") + ": byte 100 at offset 3 is outside the model's vocabulary of 100 (the "
                            "logits' last dimension)");
}

TEST_F(DatasetTest, NpyPairsAndEmptyData) {
  ASSERT_TRUE(writeNpy(path("x.npy"), HostTensor::fromFloats({3, 6}, {})).ok());
  ASSERT_TRUE(writeNpy(path("y.npy"), HostTensor(nnc::I64, {3})).ok());
  ASSERT_TRUE(writeNpy(path("none.npy"), HostTensor(nnc::I64, {0})).ok());
  DataSpec spec;
  spec.source = path("x.npy") + "," + path("y.npy");
  EXPECT_EQ(loadError(spec, mlpInputs()), "ok");
  spec.source = path("x.npy") + "," + path("none.npy");
  EXPECT_EQ(loadError(spec, mlpInputs()), path("none.npy") + ": holds no examples ([0] i64)");
  spec.source = path("x.npy") + "," + path("missing.npy");
  EXPECT_EQ(loadError(spec, mlpInputs()), path("missing.npy") + ": cannot read: No such file or "
                                                                "directory");
}

TEST(ShuffleTest, SeededPerEpochAndAPermutation) {
  std::vector<int64_t> a = permutation(1000, 1, 0), b = permutation(1000, 1, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, permutation(1000, 1, 1));
  EXPECT_NE(a, permutation(1000, 2, 0));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i)
    ASSERT_EQ(sorted[i], i);
  // Pinned: the order must not change across builds, or old checkpoints resume differently.
  EXPECT_EQ(permutation(5, 0, 0), (std::vector<int64_t>{1, 3, 4, 0, 2}));
}

TEST(BatchesTest, LastBatchPaddedWithItsFirstRow) {
  Dataset data;
  data.features = HostTensor::fromFloats({5, 1}, {10, 11, 12, 13, 14});
  data.labels = HostTensor(nnc::I64, {5});
  std::vector<int64_t> order = {4, 3, 2, 1, 0};
  Prefetcher batches(data, order, 2, 0, 3);
  EXPECT_EQ(batches.next().features.toFloats(), (std::vector<float>{14, 13}));
  EXPECT_EQ(batches.next().features.toFloats(), (std::vector<float>{12, 11}));
  Batch last = batches.next();
  EXPECT_EQ(last.count, 1);
  EXPECT_EQ(last.features.toFloats(), (std::vector<float>{10, 10}));
}

} // namespace
} // namespace nnrt::trainer
