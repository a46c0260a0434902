#!/usr/bin/python3
"""Compares the "test accuracy N%" lines of nnrun --fit logs with the first (the reference).

usage: compare_accuracy.py --within POINTS REFERENCE.txt OTHER.txt...
Each file's name ends in .<label>.txt; prints one line per file and exits 1 if any is off.
"""
import argparse
import re
import sys


def accuracy(path):
    for line in open(path):
        m = re.search(r"test accuracy ([0-9.]+)%", line)
        if m:
            return float(m.group(1))
    sys.exit(f"{path}: no 'test accuracy' line")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--within", type=float, required=True)
    ap.add_argument("logs", nargs="+")
    args = ap.parse_args()
    label = lambda path: path.rsplit(".", 2)[-2]  # noqa: E731
    reference = accuracy(args.logs[0])
    print(f"{label(args.logs[0])} test accuracy {reference:.2f}%")
    failed = False
    for path in args.logs[1:]:
        value = accuracy(path)
        ok = abs(value - reference) <= args.within
        failed |= not ok
        print(f"{label(path)} test accuracy {value:.2f}% ({value - reference:+.2f}): "
              f"{'within' if ok else 'NOT within'} {args.within:g} points")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
