// Fuzzes the text corpus reader (--data corpus.txt for char-level models). The input's first
// three bytes choose the context length (1..64), the vocabulary (0: any byte) and the validation
// fraction; the rest is the corpus, written to a temporary file (loadText reads through gzread).
#include "runtime/trainer/Dataset.h"
#include "test/fuzz/TempFile.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  int64_t context = 1 + data[0] % 64, vocab = data[1];
  double valFraction = data[2] / 255.0;
  TempFile corpus("corpus.txt", {reinterpret_cast<const char *>(data) + 3, size - 3});
  (void)nnrt::trainer::loadText(corpus.path(), context, vocab, valFraction);
  return 0;
}
