"""Checks that two trainer runs end alike: the last N of their result lines (each epoch's
"epoch E/N  train loss ...  test accuracy ..." and the final "test loss ...", without the wall
time in parentheses) are equal, as printed."""
import re
import sys

a_path, b_path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


def results(path):
    # The wall time "(0.1 s, 1144 samples/s)", wherever it is (an early stop's note follows it).
    timed = [re.sub(r"\s*\([0-9.]+ s, [0-9]+ samples/s\)", "", line.rstrip("\n"))
             for line in open(path) if line.startswith(("epoch ", "test loss"))]
    lines = [re.sub(r"\s*\(.*s\)$", "", line) for line in timed]
    return lines[-count:]


a, b = results(a_path), results(b_path)
if len(a) == count and a == b:
    print(f"{count} result lines equal")
else:
    print("DIFFERENT:", a, b, sep="\n")
