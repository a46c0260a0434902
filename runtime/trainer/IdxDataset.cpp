// IDX files (http://yann.lecun.com/exdb/mnist/): a big-endian header — two zero bytes, a type
// code (0x08: unsigned byte), the rank, then one u32 per dimension — followed by the data.
#include "runtime/trainer/Dataset.h"

#include "runtime/trainer/Gzip.h"

namespace nnrt::trainer {
namespace {

using nnc::Status;

uint32_t bigEndian32(const std::string &bytes, size_t at) {
  auto b = [&](size_t i) { return uint32_t(static_cast<unsigned char>(bytes[at + i])); };
  return b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3);
}

/// The file's u8 values and dimensions, with `rank` dimensions.
nnc::StatusOr<Shape> readIdx(const std::string &path, int rank, std::string &bytes) {
  nnc::StatusOr<std::string> read = readMaybeGzip(path);
  if (!read.ok())
    return read.status();
  bytes = std::move(*read);
  size_t header = 4 + 4 * size_t(rank);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    return Status::error(path + ": not an IDX file of unsigned bytes (bad magic number)");
  if (bytes[3] != rank)
    return Status::error(path + ": expected an IDX file of rank " + std::to_string(rank) +
                         ", got rank " + std::to_string(int(bytes[3])));
  if (bytes.size() < header)
    return Status::error(path + ": truncated IDX header");
  Shape shape;
  for (int i = 0; i < rank; ++i)
    shape.push_back(bigEndian32(bytes, 4 + 4 * i));
  int64_t expected = numElements(shape);
  if (expected < 0)
    return Status::error(path + ": the header's dimensions " + formatShape(shape) +
                         " overflow a 64-bit size");
  int64_t held = int64_t(bytes.size() - header);
  if (expected != held)
    return Status::error(path + ": " + (held < expected ? "truncated" : "has trailing bytes") +
                         ": the header says " + formatShape(shape) + " (" +
                         std::to_string(expected) + " bytes), the file holds " +
                         std::to_string(held));
  if (shape[0] == 0)
    return Status::error(path + ": holds no examples");
  bytes.erase(0, header);
  return shape;
}

} // namespace

nnc::StatusOr<Dataset> loadIdx(const std::string &imagesFile, const std::string &labelsFile) {
  std::string pixels, classes;
  nnc::StatusOr<Shape> imageShape = readIdx(imagesFile, 3, pixels);
  if (!imageShape.ok())
    return imageShape.status();
  nnc::StatusOr<Shape> labelShape = readIdx(labelsFile, 1, classes);
  if (!labelShape.ok())
    return labelShape.status();
  if ((*labelShape)[0] != (*imageShape)[0])
    return Status::error(labelsFile + ": holds " + std::to_string((*labelShape)[0]) +
                         " labels but " + imagesFile + " holds " +
                         std::to_string((*imageShape)[0]) + " images");
  Dataset data;
  data.featuresFile = imagesFile;
  data.labelsFile = labelsFile;
  data.features = HostTensor(nnc::F32, *imageShape);
  float *x = reinterpret_cast<float *>(data.features.data.data());
  for (size_t i = 0; i < pixels.size(); ++i)
    x[i] = static_cast<unsigned char>(pixels[i]) / 255.0f;
  data.labels = HostTensor(nnc::I64, *labelShape);
  int64_t *y = reinterpret_cast<int64_t *>(data.labels.data.data());
  for (size_t i = 0; i < classes.size(); ++i)
    y[i] = static_cast<unsigned char>(classes[i]);
  return data;
}

} // namespace nnrt::trainer
