"""Stops one rank of a data-parallel run with SIGSTOP (a hung process: alive, silent) and reports
how the job ended.

usage: stop_rank.py WORKDIR BOUND -- MPIRUN... -np N NNRUN ARGS... --log-steps

Each rank runs under a shell that records its pid in WORKDIR/pid.<rank>. Once rank 0 has printed
step 2, rank 1 gets SIGSTOP. Prints whether the job failed, whether it ended within BOUND seconds
of the stop (else "late"), and rank 0's last line on stderr.
"""
import os
import signal
import subprocess
import sys
import time

work, timeout = sys.argv[1], float(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1:]
np_at = command.index("-np")
launcher, program = command[:np_at + 2], command[np_at + 2:]
wrapped = launcher + ["sh", "-c", 'echo $$ > "$0/pid.$OMPI_COMM_WORLD_RANK"; exec "$@"', work]
wrapped += program
os.makedirs(work, exist_ok=True)
log = os.path.join(work, "out.log")
with open(log, "w") as out:
    job = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    marker = "step 2 "
    while marker not in open(log).read() and job.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    if job.poll() is not None:
        sys.exit("the job ended before the stop: " + job.stderr.read())
    pid = int(open(os.path.join(work, "pid.1")).read())
    os.kill(pid, signal.SIGSTOP)
    stopped = time.time()
    try:
        _, err = job.communicate(timeout=timeout * 3 + 30)
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        job.kill()
        print("HUNG: the job was still running", timeout * 3 + 30, "s after the stop")
        sys.exit(1)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
took = time.time() - stopped
rank0 = [line for line in err.splitlines() if "rank 0 of 2" in line]
print("job failed" if job.returncode != 0 else "job SUCCEEDED",
      f"within {timeout:g} s ({took:.1f} s)" if took <= timeout else f"late ({took:.1f} s)")
print("rank 0:", rank0[-1] if rank0 else "(nothing); stderr: " + err.strip()[:600])
