/* A fault injector for the hung-rank tests, preloaded (LD_PRELOAD) into one rank of an mpirun
 * job through MPI's profiling interface: it stops the process (SIGSTOP: alive but silent) on its
 * way into a chosen MPI call, so a test can hang a rank at an exact point that no timing from
 * outside could hit. NNC_STOP_AT says where:
 *   allreduce:N  the N-th MPI_Allreduce (or MPI_Iallreduce) of floats: a gradient all-reduce,
 *                after the ranks agreed on it;
 *   send:TEXT    the first MPI_Isend whose bytes contain TEXT (a collective's announcement,
 *                e.g. the final barrier's "the end of the run");
 *   finalize     MPI_Finalize (after the last barrier);
 *   reducescatter:N  the N-th MPI_Ireduce_scatter_block: a ZeRO-1 gradient reduce-scatter, after
 *                the ranks agreed on it.
 * Test code only: nothing in nnc reads NNC_STOP_AT. */
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *stopAt(const char *kind) {
  const char *at = getenv("NNC_STOP_AT");
  size_t n = strlen(kind);
  return at && strncmp(at, kind, n) == 0 ? at + n : NULL;
}

static void onReduction(MPI_Datatype type) {
  static int floats = 0;
  const char *n = stopAt("allreduce:");
  if (n && type == MPI_FLOAT && ++floats == atoi(n))
    raise(SIGSTOP);
}

int MPI_Iallreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                   MPI_Comm comm, MPI_Request *request) {
  onReduction(type);
  return PMPI_Iallreduce(in, out, count, type, op, comm, request);
}

/* The blocking form too, so that a test also stops a runtime that reduces with it. */
int MPI_Allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                  MPI_Comm comm) {
  onReduction(type);
  return PMPI_Allreduce(in, out, count, type, op, comm);
}

int MPI_Isend(const void *data, int count, MPI_Datatype type, int to, int tag, MPI_Comm comm,
              MPI_Request *request) {
  static int stopped = 0;
  const char *text = stopAt("send:");
  if (text && !stopped && type == MPI_BYTE && memmem(data, (size_t)count, text, strlen(text))) {
    stopped = 1;
    raise(SIGSTOP);
  }
  return PMPI_Isend(data, count, type, to, tag, comm, request);
}

int MPI_Finalize(void) {
  if (stopAt("finalize"))
    raise(SIGSTOP);
  return PMPI_Finalize();
}

int MPI_Ireduce_scatter_block(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                              MPI_Comm comm, MPI_Request *request) {
  static int calls = 0;
  const char *n = stopAt("reducescatter:");
  if (n && ++calls == atoi(n))
    raise(SIGSTOP);
  return PMPI_Ireduce_scatter_block(in, out, count, type, op, comm, request);
}
