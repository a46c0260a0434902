// Datasets for the trainer: examples stacked along axis 0 in host memory, read from the formats
// practitioners have (IDX images, .npy pairs, CSV tables, raw text), split into train /
// validation / test, normalized with statistics of the training split only, and checked against
// the plan's features and labels inputs before any step runs.
//
//   DataSpec spec;  spec.source = "/usr/share/datasets/fashion-mnist";  spec.valFraction = 0.1;
//   auto splits = loadData(spec, model);   // model: the plan's per-example input types
#pragma once

#include "runtime/HostTensor.h"
#include "support/StatusOr.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nnrt::trainer {

/// N examples: features (N, ...) and labels (N, ...), rows in C order.
struct Dataset {
  HostTensor features, labels;
  std::string featuresFile, labelsFile;  // where they came from, for error messages
  /// A CSV whose labels are names ("setosa"): the names, class i being classNames[i].
  std::vector<std::string> classNames;

  int64_t size() const { return features.shape.empty() ? 0 : features.shape[0]; }
  /// A dataset of the rows `indices` of this one, in that order.
  Dataset gather(const std::vector<int64_t> &indices) const;
  /// A 64-bit digest of the examples (features and labels, their shapes and order), so that a
  /// checkpoint can tell the data it was trained on from other data: 16 hex digits.
  std::string digest() const;
};

/// The input normalization --fit applies, x' = (x - mean) / stddev, with statistics of the
/// training split: one entry for every value (images), or one per feature column (CSV).
/// Checkpoints and dumped parameters carry it, so prediction sees inputs as training did.
struct Normalization {
  std::vector<float> mean, stddev;

  /// Normalizes `count` values laid out as rows of mean.size() (or any rows, for one entry).
  void apply(float *values, size_t count) const;
  /// "(x - 0.286) / 0.353" or "each of 20 columns standardized (mean -1.2 .. 3.4)".
  std::string describe() const;
  /// As the tensors checkpoints and dumps hold (kMeanTensor, kStddevTensor), and back: a
  /// missing pair is no normalization; a damaged one an error naming `where`.
  std::vector<std::pair<std::string, HostTensor>> tensors() const;
  static nnc::StatusOr<std::optional<Normalization>>
  fromTensors(const std::vector<std::pair<std::string, HostTensor>> &tensors,
              const std::string &where);
};
constexpr const char *kMeanTensor = "nnc.input_mean";
constexpr const char *kStddevTensor = "nnc.input_stddev";

struct DataSplits {
  Dataset train, validation, test;  // validation and test may be empty
  std::optional<Normalization> normalization;  // already applied to all three
};

/// What the plan expects per example, and how many classes its logits have (0: unknown).
struct ModelInputs {
  nnc::TensorType features, labels;  // one batch: (B, ...)
  int64_t numClasses = 0;
  /// Integer features index something (an embedding): each id must be below this (0: any),
  /// which the node named featureIdReader takes.
  int64_t featureIdLimit = 0;
  std::string featureIdReader;
};

struct DataSpec {
  /// A directory of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] and
  /// optionally t10k-*), "X.npy,Y.npy", a .csv file, or a text file (.txt) for a char-level LM.
  std::string source;
  std::string testSource;       // same forms; an IDX directory's t10k files need none
  std::string labelColumn = "label";  // CSV
  double valFraction = 0;       // held out of the training split (text: the tail, default 0.1)
  uint64_t seed = 0;            // which examples the validation split takes
  /// Image normalization: "auto" (IDX: mean/std of the training pixels; CSV: every column
  /// standardized; others untouched), "none", or "MEAN,STD".
  std::string normalize = "auto";
  /// Float features (and float labels) that are NaN or infinite are refused unless this is set.
  bool allowNonfinite = false;
};

/// Float values that are NaN or infinite, which would train on (or evaluate to) NaN: the first
/// is refused with its row (example) and column (element within the example), `what` naming
/// the values ("feature").
nnc::Status checkFinite(const HostTensor &tensor, const std::string &file, const char *what);

/// Reads, splits, normalizes and checks the data. Errors name the file and the problem:
/// "train-images-idx3-ubyte.gz: examples are [28,28] (784 values) but the plan's features input
/// 'image' takes [3,32,32] (3072 values)".
nnc::StatusOr<DataSplits> loadData(const DataSpec &spec, const ModelInputs &model);

// The formats, each returning raw examples (features f32 unless the file says otherwise).
/// IDX (LeCun's MNIST format), gzipped or not: u8 images (N, rows, cols) as f32 in [0, 1], u8
/// labels (N) as i64.
nnc::StatusOr<Dataset> loadIdx(const std::string &imagesFile, const std::string &labelsFile);
/// A header row, then one example per row; `labelColumn` is the label, every other column a
/// feature. Labels become `labelType` (i64 labels must be integers, or class names: those are
/// numbered in sorted order, or by `classes` when given, as the training set's names number a
/// test set's). A feature that is not finite as a float ("nan", "1e39") is refused unless
/// `allowNonfinite`.
nnc::StatusOr<Dataset> loadCsv(const std::string &file, const std::string &labelColumn,
                               nnc::DType labelType, bool allowNonfinite = false,
                               const std::vector<std::string> *classes = nullptr);
/// loadCsv on the file's text (`file` names it in errors).
nnc::StatusOr<Dataset> parseCsv(const std::string &text, const std::string &file,
                                const std::string &labelColumn, nnc::DType labelType,
                                bool allowNonfinite = false,
                                const std::vector<std::string> *classes = nullptr);
/// A char-level corpus: byte ids (each < vocab), cut into non-overlapping windows of `context`:
/// x = ids[t : t+T], y = ids[t+1 : t+T+1]. The last `valFraction` of the text (by bytes) is the
/// validation split.
nnc::StatusOr<DataSplits> loadText(const std::string &file, int64_t context, int64_t vocab,
                                   double valFraction);

} // namespace nnrt::trainer
