"""Kills one rank of a data-parallel run and reports how the job ended.

usage: kill_rank.py CHECKPOINT_DIR TIMEOUT -- MPIRUN... -np N NNRUN ARGS...

Each rank runs under a shell that records its pid in CHECKPOINT_DIR/pid.<rank>. Once the run has
written its first checkpoint, rank 1 gets SIGKILL. Prints whether the job failed, how long the
survivors took to end (at most TIMEOUT seconds, else "HUNG"), and rank 0's last line on stderr.
"""
import os
import signal
import subprocess
import sys
import time

ckpt_dir, timeout = sys.argv[1], float(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1:]
np_at = command.index("-np")
launcher, program = command[:np_at + 2], command[np_at + 2:]
wrapped = launcher + ["sh", "-c", 'echo $$ > "$0/pid.$OMPI_COMM_WORLD_RANK"; exec "$@"', ckpt_dir]
wrapped += program
os.makedirs(ckpt_dir, exist_ok=True)
job = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

last = os.path.join(ckpt_dir, "last.ckpt")
deadline = time.time() + 120
while not os.path.exists(last) and job.poll() is None and time.time() < deadline:
    time.sleep(0.005)
if job.poll() is not None:
    sys.exit("the job ended before its first checkpoint: " + job.stderr.read())
os.kill(int(open(os.path.join(ckpt_dir, "pid.1")).read()), signal.SIGKILL)
killed = time.time()
try:
    _, err = job.communicate(timeout=timeout)
except subprocess.TimeoutExpired:
    job.kill()
    print("HUNG: the job was still running", timeout, "s after the kill")
    sys.exit(1)
took = time.time() - killed
rank0 = [line for line in err.splitlines() if "rank 0 of 2" in line]
print("job failed" if job.returncode != 0 else "job SUCCEEDED", f"within {timeout:g} s"
      if took <= timeout else "late")
print("rank 0:", rank0[-1] if rank0 else "(nothing)")
