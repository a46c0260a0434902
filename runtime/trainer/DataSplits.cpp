// loadData, in order:
//   1. read the source (format from its form: directory = IDX, "X.npy,Y.npy", .csv, else text)
//      and the test set (--test-data, or an IDX directory's t10k files);
//   2. hold out the validation split (seeded; text holds out its tail);
//   3. normalize with statistics of what is left for training (never the validation or test
//      examples, so no information leaks from them);
//   4. check every split against the plan: per-example element counts (reshaping the rank when
//      they agree, so (N,28,28) images feed a (B,1,28,28) or (B,784) input), dtypes, label range.
#include "runtime/trainer/Dataset.h"

#include "runtime/Npy.h"
#include "runtime/trainer/Shuffle.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace nnrt::trainer {

using nnc::Status;

Dataset Dataset::gather(const std::vector<int64_t> &indices) const {
  Dataset out = *this;
  for (auto [from, to] : {std::pair{&features, &out.features}, std::pair{&labels, &out.labels}}) {
    size_t rowBytes = from->shape[0] ? from->data.size() / from->shape[0] : 0;
    to->shape[0] = int64_t(indices.size());
    to->data.resize(rowBytes * indices.size());
    for (size_t i = 0; i < indices.size(); ++i)
      std::copy_n(from->data.begin() + indices[i] * rowBytes, rowBytes,
                  to->data.begin() + i * rowBytes);
  }
  return out;
}

namespace {

namespace fs = std::filesystem;

/// DIR/name or DIR/name.gz, whichever exists; empty if neither.
std::string findIdx(const std::string &dir, const std::string &name) {
  for (const std::string &candidate : {name, name + ".gz"})
    if (fs::exists(fs::path(dir) / candidate))
      return fs::path(dir) / candidate;
  return "";
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}


nnc::StatusOr<Dataset> loadNpyPair(const std::string &source, bool allowNonfinite) {
  size_t comma = source.find(',');
  if (comma == std::string::npos)
    return Status::error(source + ": a .npy dataset is a pair FEATURES.npy,LABELS.npy");
  Dataset data;
  data.featuresFile = source.substr(0, comma);
  data.labelsFile = source.substr(comma + 1);
  for (auto [path, into] : {std::pair{&data.featuresFile, &data.features},
                            std::pair{&data.labelsFile, &data.labels}}) {
    nnc::StatusOr<HostTensor> read = readNpy(*path);
    if (!read.ok())
      return read.status();
    if (read->shape.empty() || read->shape[0] == 0)
      return Status::error(*path + ": holds no examples (" + read->describe() + ")");
    if (!allowNonfinite)
      if (Status s = checkFinite(*read, *path, into == &data.features ? "feature" : "label");
          !s.ok())
        return s;
    *into = std::move(*read);
  }
  if (data.labels.shape[0] != data.features.shape[0])
    return Status::error(data.labelsFile + ": holds " + std::to_string(data.labels.shape[0]) +
                         " labels but " + data.featuresFile + " holds " +
                         std::to_string(data.features.shape[0]) + " examples");
  return data;
}

/// The training source, and the test set an IDX directory carries.
nnc::StatusOr<Dataset> loadSource(const std::string &source, const DataSpec &spec,
                                  const ModelInputs &model, Dataset *idxTest,
                                  const std::vector<std::string> *classes = nullptr) {
  if (fs::is_directory(source)) {
    std::string images = findIdx(source, "train-images-idx3-ubyte");
    std::string labels = findIdx(source, "train-labels-idx1-ubyte");
    if (images.empty() || labels.empty())
      return Status::error(source + ": holds no IDX training set (expected "
                                    "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz])");
    if (idxTest) {
      std::string testImages = findIdx(source, "t10k-images-idx3-ubyte");
      std::string testLabels = findIdx(source, "t10k-labels-idx1-ubyte");
      if (!testImages.empty() && !testLabels.empty()) {
        nnc::StatusOr<Dataset> test = loadIdx(testImages, testLabels);
        if (!test.ok())
          return test.status();
        *idxTest = std::move(*test);
      }
    }
    return loadIdx(images, labels);
  }
  if (source.find(',') != std::string::npos || endsWith(source, ".npy"))
    return loadNpyPair(source, spec.allowNonfinite);
  std::error_code error;
  if (!fs::exists(source, error))
    return Status::error(source + ": no such file or directory");
  if (endsWith(source, ".csv"))
    return loadCsv(source, spec.labelColumn, model.labels.dtype(), spec.allowNonfinite,
                   classes);
  return Status::error(source + ": unknown data format (expected an IDX directory, "
                                "X.npy,Y.npy, a .csv file or a .txt file)");
}

bool isText(const std::string &source) {
  return endsWith(source, ".txt") || endsWith(source, ".txt.gz");
}

nnc::StatusOr<std::optional<Normalization>> chooseNormalization(const DataSpec &spec,
                                                                const Dataset &train) {
  if (spec.normalize == "none" || train.features.dtype != nnc::F32)
    return std::optional<Normalization>();
  bool csv = endsWith(spec.source, ".csv");
  bool idx = fs::is_directory(spec.source);
  if (spec.normalize == "auto" && !csv && !idx)
    return std::optional<Normalization>();
  if (spec.normalize != "auto") {
    float mean = 0, stddev = 0;
    char tail = 0;
    if (std::sscanf(spec.normalize.c_str(), "%f,%f%c", &mean, &stddev, &tail) != 2 ||
        !std::isfinite(mean) || !std::isfinite(stddev) || !(stddev > 0))
      return Status::error("--normalize: expects auto, none or MEAN,STD, finite, with STD > 0, "
                           "got '" + spec.normalize + "'");
    return std::optional<Normalization>(Normalization{{mean}, {stddev}});
  }
  // Statistics of the training split, in double: 47M pixels would lose digits in float.
  std::vector<float> x = train.features.toFloats();
  int64_t n = train.size(), width = csv ? int64_t(x.size()) / n : 1;
  std::vector<double> sum(width), sumSq(width);
  for (size_t i = 0; i < x.size(); ++i) {
    sum[i % width] += x[i];
    sumSq[i % width] += double(x[i]) * x[i];
  }
  Normalization norm;
  double count = double(x.size()) / double(width);
  for (int64_t c = 0; c < width; ++c) {
    double mean = sum[c] / count, var = std::max(0.0, sumSq[c] / count - mean * mean);
    norm.mean.push_back(float(mean));
    // A constant column stays as it is, centered, rather than dividing by zero.
    norm.stddev.push_back(var > 1e-12 ? float(std::sqrt(var)) : 1.0f);
  }
  return std::optional<Normalization>(norm);
}

/// Reshapes `tensor` (N, ...) to (N, per-example dims of `input`) if the element counts agree.
Status fitTo(HostTensor &tensor, const nnc::TensorType &input, const std::string &file,
             const std::string &what) {
  Shape want = shapeOf(input);
  Shape example(want.begin() + 1, want.end()), have(tensor.shape.begin() + 1, tensor.shape.end());
  if (tensor.dtype != input.dtype())
    return Status::error(file + ": " + what + " are " + formatDType(tensor.dtype) +
                         " but the plan's " + what + " input takes " + formatDType(input.dtype()));
  if (numElements(example) != numElements(have))
    return Status::error(file + ": " + what + " are " + formatShape(have) + " (" +
                         std::to_string(numElements(have)) + " values) per example but the plan's " +
                         what + " input takes " + formatShape(example) + " (" +
                         std::to_string(numElements(example)) + " values)");
  example.insert(example.begin(), tensor.shape[0]);
  tensor.shape = example;
  return Status();
}

Status checkLabels(const Dataset &data, int64_t numClasses) {
  if (data.labels.dtype != nnc::I64 || numClasses <= 0)
    return Status();
  int64_t i = firstIdOutside(data.labels, numClasses);
  if (i < 0)
    return Status();
  const auto *y = reinterpret_cast<const int64_t *>(data.labels.data.data());
  return Status::error(data.labelsFile + ": label " + std::to_string(y[i]) + " (element " +
                       std::to_string(i) + ") is out of range for " + std::to_string(numClasses) +
                       " classes (the logits' last dimension)");
}

/// Integer features that index an embedding: every id below its rows, before training starts
/// (nnrun also checks each batch it writes, but would stop mid-run).
Status checkFeatureIds(const Dataset &data, const ModelInputs &model) {
  if (data.features.dtype != nnc::I64 || model.featureIdLimit <= 0)
    return Status();
  int64_t i = firstIdOutside(data.features, model.featureIdLimit);
  if (i < 0)
    return Status();
  const auto *x = reinterpret_cast<const int64_t *>(data.features.data.data());
  return Status::error(data.featuresFile + ": id " + std::to_string(x[i]) + " (element " +
                       std::to_string(i) + ") is out of range: '" + model.featureIdReader +
                       "' takes ids in [0, " + std::to_string(model.featureIdLimit) + ")");
}

} // namespace

Status checkFinite(const HostTensor &tensor, const std::string &file, const char *what) {
  if (tensor.dtype != nnc::F32 && tensor.dtype != nnc::F16 && tensor.dtype != nnc::BF16)
    return Status();
  std::vector<float> converted; // f16 and bf16 only: f32 is read in place
  if (tensor.dtype != nnc::F32)
    converted = tensor.toFloats();
  const float *x = converted.empty() ? reinterpret_cast<const float *>(tensor.data.data())
                                     : converted.data();
  int64_t count = converted.empty() ? int64_t(tensor.data.size() / sizeof(float))
                                    : int64_t(converted.size());
  const float *bad = std::find_if(x, x + count, [](float v) { return !std::isfinite(v); });
  if (bad == x + count)
    return Status();
  int64_t i = bad - x, width = count / tensor.shape[0];
  return Status::error(file + ": row " + std::to_string(i / width) + ", column " +
                       std::to_string(i % width) + ": " + what + " " + std::to_string(*bad) +
                       " is not finite (--allow-nonfinite-inputs accepts it)");
}

std::string Dataset::digest() const {
  // FNV-1a over 8-byte words (then the tail's bytes): 47 MB of images in a few milliseconds.
  uint64_t hash = 0xcbf29ce484222325ull;
  auto mix = [&hash](uint64_t word) { hash = (hash ^ word) * 0x100000001b3ull; };
  for (const HostTensor *tensor : {&features, &labels}) {
    for (int64_t dim : tensor->shape)
      mix(uint64_t(dim));
    const std::vector<uint8_t> &bytes = tensor->data;
    size_t words = bytes.size() / 8;
    for (size_t i = 0; i < words; ++i) {
      uint64_t word;
      std::memcpy(&word, bytes.data() + 8 * i, 8);
      mix(word);
    }
    for (size_t i = 8 * words; i < bytes.size(); ++i)
      mix(bytes[i]);
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

void Normalization::apply(float *values, size_t count) const {
  size_t width = mean.size();
  for (size_t i = 0; i < count; ++i)
    values[i] = (values[i] - mean[i % width]) / stddev[i % width];
}

std::string Normalization::describe() const {
  char text[160];
  if (mean.size() == 1) {
    std::snprintf(text, sizeof text, "(x - %.6g) / %.6g", mean[0], stddev[0]);
  } else {
    auto [low, high] = std::minmax_element(mean.begin(), mean.end());
    std::snprintf(text, sizeof text, "each of %zu columns standardized (means %.4g .. %.4g)",
                  mean.size(), *low, *high);
  }
  return text;
}

std::vector<std::pair<std::string, HostTensor>> Normalization::tensors() const {
  int64_t n = int64_t(mean.size());
  return {{kMeanTensor, HostTensor::fromFloats({n}, mean)},
          {kStddevTensor, HostTensor::fromFloats({n}, stddev)}};
}

nnc::StatusOr<std::optional<Normalization>>
Normalization::fromTensors(const std::vector<std::pair<std::string, HostTensor>> &tensors,
                           const std::string &where) {
  const HostTensor *mean = nullptr, *stddev = nullptr;
  for (const auto &[name, tensor] : tensors) {
    if (name == kMeanTensor)
      mean = &tensor;
    else if (name == kStddevTensor)
      stddev = &tensor;
  }
  if (!mean && !stddev)
    return std::optional<Normalization>();
  if (!mean || !stddev || mean->dtype != nnc::F32 || mean->shape.size() != 1 ||
      mean->shape != stddev->shape || stddev->dtype != nnc::F32 || mean->shape[0] < 1)
    return Status::error(where + ": the input normalization ('" + std::string(kMeanTensor) +
                         "', '" + kStddevTensor + "') is incomplete or malformed");
  Normalization norm{mean->toFloats(), stddev->toFloats()};
  for (size_t i = 0; i < norm.mean.size(); ++i)
    if (!std::isfinite(norm.mean[i]) || !(norm.stddev[i] > 0) || !std::isfinite(norm.stddev[i]))
      return Status::error(where + ": the input normalization of value " + std::to_string(i) +
                           " is not finite or its standard deviation not positive");
  return std::optional<Normalization>(std::move(norm));
}

nnc::StatusOr<DataSplits> loadData(const DataSpec &spec, const ModelInputs &model) {
  if (!(spec.valFraction >= 0 && spec.valFraction < 1))
    return Status::error("--val-fraction: must be in [0, 1), got " +
                         std::to_string(spec.valFraction));
  // 1-2. Read and split.
  DataSplits splits;
  if (isText(spec.source)) {
    int64_t context = model.features.shape_size() > 1 ? model.features.shape(1) : 1;
    double fraction = spec.valFraction > 0 ? spec.valFraction : 0.1;
    nnc::StatusOr<DataSplits> text = loadText(spec.source, context, model.numClasses, fraction);
    if (!text.ok())
      return text.status();
    splits = std::move(*text);
  } else {
    nnc::StatusOr<Dataset> train = loadSource(spec.source, spec, model, &splits.test);
    if (!train.ok())
      return train.status();
    splits.train = std::move(*train);
    if (spec.valFraction > 0) {
      int64_t n = splits.train.size();
      int64_t held = std::llround(double(n) * spec.valFraction);
      if (held < 1 || held >= n)
        return Status::error(splits.train.featuresFile + ": --val-fraction " +
                             std::to_string(spec.valFraction) + " of " + std::to_string(n) +
                             " examples leaves an empty split");
      std::vector<int64_t> order = permutation(n, spec.seed, kValidationSplitStream);
      std::vector<int64_t> val(order.begin(), order.begin() + held);
      std::vector<int64_t> rest(order.begin() + held, order.end());
      std::sort(val.begin(), val.end());
      std::sort(rest.begin(), rest.end());  // the epochs shuffle anyway; sorted reads are faster
      splits.validation = splits.train.gather(val);
      splits.train = splits.train.gather(rest);
    }
  }
  if (!spec.testSource.empty()) {
    nnc::StatusOr<Dataset> test =
        isText(spec.testSource)
            ? Status::error(spec.testSource + ": a text corpus splits its own validation set")
            : loadSource(spec.testSource, spec, model, nullptr, &splits.train.classNames);
    if (!test.ok())
      return test.status();
    splits.test = std::move(*test);
  }

  // 3. Normalize with the training split's statistics.
  nnc::StatusOr<std::optional<Normalization>> norm = chooseNormalization(spec, splits.train);
  if (!norm.ok())
    return norm.status();
  for (Dataset *data : {&splits.train, &splits.validation, &splits.test})
    if (*norm && data->size() > 0)
      (*norm)->apply(reinterpret_cast<float *>(data->features.data.data()),
                     data->features.data.size() / sizeof(float));
  splits.normalization = *norm;

  // 4. Check against the plan.
  for (Dataset *data : {&splits.train, &splits.validation, &splits.test}) {
    if (data->size() == 0)
      continue;
    if (Status s = fitTo(data->features, model.features, data->featuresFile, "features"); !s.ok())
      return s;
    if (Status s = fitTo(data->labels, model.labels, data->labelsFile, "labels"); !s.ok())
      return s;
    if (Status s = checkLabels(*data, model.numClasses); !s.ok())
      return s;
    if (Status s = checkFeatureIds(*data, model); !s.ok())
      return s;
  }
  return splits;
}

} // namespace nnrt::trainer
