"""Interrupts a command that writes OUT and says what it left there.

  interrupt.py --out OUT --ref REF (--closed-stderr | --signal NAME --after SECONDS) -- CMD...

--closed-stderr runs CMD with stderr a pipe whose reader is gone, as in `nnc ... 2>&1 | head -1`
once head has exited: its first message gets SIGPIPE. --signal sends NAME (TERM, INT, KILL) to
CMD after SECONDS. Prints "plan absent" or "plan complete" (OUT's bytes equal REF's), else
"plan PARTIAL"; then "no temporary files" unless something besides OUT and REF is left in OUT's
directory (after SIGKILL, which cannot be caught, a temporary file may stay: not listed).
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--closed-stderr", action="store_true")
    parser.add_argument("--signal")
    parser.add_argument("--after", type=float, default=0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()

    if args.closed_stderr:
        read, write = os.pipe()
        os.close(read)
        process = subprocess.Popen(args.command, stdout=subprocess.DEVNULL, stderr=write)
        os.close(write)
    else:
        process = subprocess.Popen(args.command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(args.after)
        process.send_signal(getattr(signal, "SIG" + args.signal))
    process.wait()

    if not os.path.exists(args.out):
        print("plan absent")
    else:
        with open(args.out, "rb") as out, open(args.ref, "rb") as ref:
            print("plan complete" if out.read() == ref.read() else "plan PARTIAL")
    if args.signal == "KILL":
        return 0
    keep = {os.path.basename(args.out), os.path.basename(args.ref)}
    left = sorted(set(os.listdir(os.path.dirname(os.path.abspath(args.out)))) - keep)
    print("no temporary files" if not left else "left: " + " ".join(left))
    return 0


if __name__ == "__main__":
    sys.exit(main())
