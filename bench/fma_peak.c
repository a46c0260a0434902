// The machine's fp32 FMA peak for bench/train_bench.py: each of THREADS threads runs CHAINS
// independent chains of vector FMAs (acc = acc * m + b) in registers, enough chains to cover the
// FMA latency on every port, and the program prints the achieved GFLOP/s (2 FLOPs per lane per
// FMA). Built on the fly with `cc -O3 -march=native -DVEC_BYTES=64` (32 without AVX-512); GCC
// contracts a * m + b into one FMA at -O3.
//
// usage: fma_peak THREADS ITERATIONS
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef VEC_BYTES
#define VEC_BYTES 64
#endif
#define CHAINS 16

typedef float vec __attribute__((vector_size(VEC_BYTES)));

static volatile float sink;

static void *chains(void *arg) {
  long iterations = *(const long *)arg;
  vec acc[CHAINS];
  vec m = (vec){0} + 0.999999f, b = (vec){0} + 1e-7f;
  for (int c = 0; c < CHAINS; ++c)
    acc[c] = (vec){0} + (float)c;
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < CHAINS; ++c)
      acc[c] = acc[c] * m + b;
  float total = 0;
  for (int c = 0; c < CHAINS; ++c)
    total += acc[c][0];
  sink = total;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s THREADS ITERATIONS\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]);
  long iterations = atol(argv[2]);
  pthread_t ids[64];
  if (threads < 1 || threads > 64)
    return 2;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int t = 0; t < threads; ++t)
    pthread_create(&ids[t], NULL, chains, &iterations);
  for (int t = 0; t < threads; ++t)
    pthread_join(ids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
  double flops = 2.0 * threads * iterations * CHAINS * (VEC_BYTES / sizeof(float));
  printf("%.1f\n", flops / seconds / 1e9);
  return 0;
}
