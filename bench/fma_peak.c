// The machine's fp32 FMA peak for bench/train_bench.py: each of THREADS threads runs CHAINS
// independent chains of vector FMAs (acc = acc * m + b) in registers, enough chains to cover the
// FMA latency on every port. It prints two GFLOP/s figures (2 FLOPs per lane per FMA): over the
// wall time, and the sum over threads of each thread's FLOPs per second of its own CPU time, the
// peak of THREADS cores even while other jobs on a shared machine take turns on them. Built on
// the fly with `cc -O3 -march=native -DVEC_BYTES=64` (32 without AVX-512); GCC contracts
// a * m + b into one FMA at -O3.
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

struct job {
  long iterations;
  double cpuSeconds;
};

static void *chains(void *arg) {
  struct job *job = arg;
  long iterations = job->iterations;
  struct timespec start, end;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
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
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &end);
  job->cpuSeconds = (end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
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
  struct job jobs[64];
  if (threads < 1 || threads > 64)
    return 2;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int t = 0; t < threads; ++t) {
    jobs[t].iterations = iterations;
    pthread_create(&ids[t], NULL, chains, &jobs[t]);
  }
  for (int t = 0; t < threads; ++t)
    pthread_join(ids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &end);
  double seconds = (end.tv_sec - start.tv_sec) + 1e-9 * (end.tv_nsec - start.tv_nsec);
  double flopsPerThread = 2.0 * iterations * CHAINS * (VEC_BYTES / sizeof(float));
  double perCpuSecond = 0;
  for (int t = 0; t < threads; ++t)
    perCpuSecond += flopsPerThread / jobs[t].cpuSeconds;
  printf("%.1f %.1f\n", threads * flopsPerThread / seconds / 1e9, perCpuSecond / 1e9);
  return 0;
}
