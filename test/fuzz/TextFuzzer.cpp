// Fuzzes the text corpus reader (--data corpus.txt for char-level models). The input's first
// three bytes choose the context length (1..64), the vocabulary (0: any byte) and the validation
// fraction; the rest is the corpus, written to a temporary file (loadText reads through gzread).
#include "runtime/FileIO.h"
#include "runtime/trainer/Dataset.h"

#include <unistd.h>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  int64_t context = 1 + data[0] % 64, vocab = data[1];
  double valFraction = data[2] / 255.0;
  std::string file = "/tmp/nnc-fuzz-text-" + std::to_string(getpid()) + ".txt";
  std::string_view corpus(reinterpret_cast<const char *>(data) + 3, size - 3);
  if (nnrt::writeFile(file, corpus).ok())
    (void)nnrt::trainer::loadText(file, context, vocab, valFraction);
  unlink(file.c_str());
  return 0;
}
