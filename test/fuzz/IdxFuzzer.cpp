// Fuzzes the IDX reader (--data DIR with MNIST-style files, gzipped or not). The input is both
// files: a little-endian u32 giving the images file's length, the images file, then the labels
// file. They are written to temporary files because loadIdx reads through zlib's gzread.
#include "runtime/trainer/Dataset.h"
#include "test/fuzz/TempFile.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  uint32_t imagesLength = 0;
  std::memcpy(&imagesLength, data, 4);
  std::string_view rest(reinterpret_cast<const char *>(data) + 4, size - 4);
  std::string_view images = rest.substr(0, imagesLength), labels = rest.substr(images.size());
  TempFile imagesFile("images-idx3-ubyte", images), labelsFile("labels-idx1-ubyte", labels);
  (void)nnrt::trainer::loadIdx(imagesFile.path(), labelsFile.path());
  return 0;
}
