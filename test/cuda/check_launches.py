"""Checks `nnc compile --target cuda --print-launch-stats` output (stdin) against the launch rules
of test/cuda/launch_stats.test:
  1. no launch has fewer than 32 threads, except one that already has a thread per element of
     every buffer it touches (a scalar epilogue or a 10-element bias: more threads would idle);
     --small N says how many such exceptions there are, so that a new one fails the test;
  2. no launch touching more than 4096 elements has fewer than 1 thread per 32 elements.
Prints one line per violation and a summary; exits 1 on a violation."""
import re
import sys

LINE = re.compile(r"launch (\S+) \((\S+)\): grid\((\d+), (\d+), (\d+)\) block\((\d+), (\d+), (\d+)\) "
                  r"threads (\d+) elements (\d+) bytes (\d+)$")


def main():
    expected_small = None
    if len(sys.argv) == 3 and sys.argv[1] == "--small":
        expected_small = int(sys.argv[2])
    launches, small, problems = 0, [], []
    for line in sys.stdin:
        m = LINE.match(line.strip())
        if not m:
            continue
        launches += 1
        function = m.group(1)
        dims = [int(g) for g in m.groups()[2:8]]
        threads, elements = int(m.group(9)), int(m.group(10))
        if threads != dims[0] * dims[1] * dims[2] * dims[3] * dims[4] * dims[5]:
            problems.append(f"{function}: threads {threads} is not grid x block")
        if threads < 32:
            if threads >= elements:
                small.append(function)
            else:
                problems.append(f"{function}: {threads} threads for {elements} elements")
        if elements > 4096 and threads * 32 < elements:
            problems.append(f"{function}: {threads} threads for {elements} elements (< 1 per 32)")
    if launches == 0:
        problems.append("no launch lines in the input")
    if expected_small is not None and len(small) != expected_small:
        problems.append(f"{len(small)} launches under 32 threads with a thread per element "
                        f"(expected {expected_small}): {', '.join(small)}")
    for p in problems:
        print("violation:", p)
    print(f"checked {launches} launches: {len(small)} under 32 threads (a thread per element), "
          f"{len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
