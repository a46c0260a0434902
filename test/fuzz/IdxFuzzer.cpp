// Fuzzes the IDX reader (--data DIR with MNIST-style files, gzipped or not). The input is both
// files: a little-endian u32 giving the images file's length, the images file, then the labels
// file. They are written to temporary files because loadIdx reads through zlib's gzread.
#include "runtime/FileIO.h"
#include "runtime/trainer/Dataset.h"

#include <unistd.h>

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
  std::string prefix = "/tmp/nnc-fuzz-idx-" + std::to_string(getpid());
  std::string imagesFile = prefix + "-images", labelsFile = prefix + "-labels";
  if (nnrt::writeFile(imagesFile, images).ok() && nnrt::writeFile(labelsFile, labels).ok())
    (void)nnrt::trainer::loadIdx(imagesFile, labelsFile);
  unlink(imagesFile.c_str());
  unlink(labelsFile.c_str());
  return 0;
}
