"""Stops rank 1 of a data-parallel run with SIGSTOP (a hung process: alive, silent) and reports
how the job ended.

usage: stop_rank.py WORKDIR BOUND [--inject LIB WHERE] -- MPIRUN... -np N NNRUN ARGS...

Each rank runs under a shell that records its pid in WORKDIR/pid.<rank>. Without --inject, rank 1
gets SIGSTOP once rank 0 has printed step 2 (nnrun needs --log-steps). With --inject, rank 1 runs
with LIB preloaded (stop_in_mpi.c), which stops it on its way into the MPI call WHERE names
(NNC_STOP_AT); the stop is timed when the process shows as stopped. Prints whether the job failed
and its exit status, whether it ended within BOUND seconds of the stop (else "late"), and each
surviving rank's last line on stderr.
"""
import os
import signal
import subprocess
import sys
import time

work, bound = sys.argv[1], float(sys.argv[2])
inject = sys.argv[sys.argv.index("--inject") + 1:][:2] if "--inject" in sys.argv else None
command = sys.argv[sys.argv.index("--") + 1:]
np_at = command.index("-np")
ranks = int(command[np_at + 1])
launcher, program = command[:np_at + 2], command[np_at + 2:]
shell = 'echo $$ > "$0/pid.$OMPI_COMM_WORLD_RANK"; '
if inject:
    # Rank 1 only: LD_PRELOAD for every rank, or for mpirun, would stop the wrong process.
    launcher[1:1] = ["-x", "NNC_STOP_AT=" + inject[1], "-x", "NNC_STOP_LIB=" + inject[0]]
    shell += '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && export LD_PRELOAD="$NNC_STOP_LIB"; '
wrapped = launcher + ["sh", "-c", shell + 'exec "$@"', work] + program
os.makedirs(work, exist_ok=True)
log = os.path.join(work, "out.log")
pid_file = os.path.join(work, "pid.1")


def stopped(pid):
    """True once the process is in state T (stopped by a signal)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] == "T"


with open(log, "w") as out:
    job = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    pid = None
    while job.poll() is None and time.time() < deadline:
        if pid is None and os.path.exists(pid_file) and open(pid_file).read().strip():
            pid = int(open(pid_file).read())
        if pid and (stopped(pid) if inject else "step 2 " in open(log).read()):
            break
        time.sleep(0.002)
    if job.poll() is not None or pid is None:
        sys.exit("the job ended before the stop: " + job.stderr.read())
    if not inject:
        os.kill(pid, signal.SIGSTOP)
    stop_time = time.time()
    try:
        _, err = job.communicate(timeout=bound * 3 + 30)
    except subprocess.TimeoutExpired:
        job.kill()
        print("HUNG: the job was still running", bound * 3 + 30, "s after the stop")
        sys.exit(1)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
took = time.time() - stop_time
print("job failed" if job.returncode != 0 else "job SUCCEEDED", f"(exit status {job.returncode})",
      f"within {bound:g} s ({took:.1f} s)" if took <= bound else f"late ({took:.1f} s)")
for rank in range(ranks):
    if rank == 1:
        continue
    lines = [line for line in err.splitlines() if f"rank {rank} of {ranks}" in line]
    print(f"rank {rank}:", lines[-1] if lines else "(nothing); stderr: " + err.strip()[:600])
