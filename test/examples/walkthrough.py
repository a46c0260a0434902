#!/usr/bin/python3
"""Runs the README's "Train your own model" section as written (issue 25).

  walkthrough.py REPO BUILD WORKDIR

In the section's order: a ```python block whose first line is "# NAME" is written to
WORKDIR/NAME; a ```bash block runs in WORKDIR under `bash -e`, with NNC=REPO and
NNC_BUILD_DIR=BUILD, and pip offline (no index; the wheels scripts/onnxruntime-venv.sh kept in
BUILD/wheels). Prints each command's output; exits 1 naming the block that failed.
"""
import os
import re
import subprocess
import sys

repo, build, workdir = sys.argv[1:4]
readme = open(os.path.join(repo, "README.md")).read()
section = re.search(r"^## Train your own model\n(.*?)^## ", readme, re.S | re.M).group(1)
env = dict(os.environ, NNC=repo, NNC_BUILD_DIR=build, PIP_NO_INDEX="1",
           PIP_FIND_LINKS=os.path.join(build, "wheels"), PIP_DISABLE_PIP_VERSION_CHECK="1")
env.pop("PYTHONPATH", None)
os.makedirs(workdir, exist_ok=True)
blocks = re.findall(r"^```(\w+)\n(.*?)^```", section, re.S | re.M)
files = commands = 0
for number, (language, text) in enumerate(blocks, 1):
    if language == "python":
        name = re.match(r"# (\S+)\n", text)
        if not name:
            sys.exit(f"walkthrough: python block {number} does not start with '# FILE.py'")
        with open(os.path.join(workdir, name.group(1)), "w") as f:
            f.write(text)
        files += 1
    elif language == "bash":
        run = subprocess.run(["bash", "-e", "-x", "-c", text], cwd=workdir, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(run.stdout, end="")
        if run.returncode != 0:
            sys.exit(f"walkthrough: bash block {number} failed (exit {run.returncode})")
        commands += len([line for line in text.splitlines() if line.strip()])
    else:
        sys.exit(f"walkthrough: block {number} is ```{language}, neither python nor bash")
print(f"walkthrough: {files} files written, {commands} commands run")
