"""Checks that the README's commands run as written (issue 22).

  check_readme.py REPO BIN_DIR [--run]

For every ```sh block of REPO/README.md, in order, each command (continuation lines joined,
comments dropped):
  1. calls a real program: build/bin/<tool> must be a tool in BIN_DIR, scripts/... a file of the
     repository, anything else a program on PATH (mpirun);
  2. names only files that exist (in the repository, or absolute paths on this machine) or that
     an earlier command wrote (-o, --checkpoint-dir, --report, an example's model.pb, ...);
  3. passes only flags the tool lists in its --help;
  4. has no placeholders ("...", "[optional]").
With --run, the cheap commands (writing example models, nnc compile, nnc-opt, nnrun without
--fit, outside mpirun) run in a temporary directory, with the repository's files given by
absolute path; each must exit 0. Markdown links in README.md and docs/DESIGN.md must point into
the repository. Prints one line per problem and exits 1 if there was any.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

# Flags whose value is a file or directory the command writes.
OUTPUT_FLAGS = {"-o", "--checkpoint-dir", "--report", "--dump-parameters", "--lr-find",
                "--metrics-jsonl", "--tensorboard", "--dump-dir", "--prefix", "-B"}
# Flags that take no value (the next word is then an argument of its own).
SWITCHES = {"--fit", "--resume", "--collective-stats", "--help", "--log-steps", "--profile",
            "--skip-nonfinite", "--allow-run-as-root", "--oversubscribe"}
PATH_SUFFIXES = (".pb", ".pbtxt", ".plan", ".npy", ".mlir", ".csv", ".txt", ".html", ".sh",
                 ".py", ".json", ".svg", ".md")


def commands(readme):
    """Yields (block number, words) for each command of each ```sh block."""
    blocks = re.findall(r"^```sh\n(.*?)^```", readme, re.S | re.M)
    for number, block in enumerate(blocks, 1):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                yield number, words


def looks_like_path(word):
    return "/" in word or word.endswith(PATH_SUFFIXES)


class Checker:
    def __init__(self, repo, bin_dir):
        self.repo, self.bin_dir = repo, bin_dir
        self.produced = set()
        self.problems = []
        self.helps = {}

    def problem(self, block, words, message):
        self.problems.append("README.md block %d: '%s': %s" % (block, " ".join(words), message))

    def built(self, path):
        """Whether an earlier command wrote `path` or a directory above it (cmake -B, --prefix)."""
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.produced)

    def exists(self, path):
        return os.path.exists(path if os.path.isabs(path) else os.path.join(self.repo, path))

    def help_text(self, program, words):
        """The tool's --help (nnc compile: --help-hidden, which also lists MLIR's flags; nnc
        import: its own --help)."""
        key = (program, words[1] if words[1:2] in (["compile"], ["import"]) else "")
        if key not in self.helps:
            command = [program] + ([key[1], "--help-hidden" if key[1] == "compile" else "--help"]
                                   if key[1] else ["--help"])
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            self.helps[key] = result.stdout
        return self.helps[key]

    def check(self, block, words):
        """Checks one command; returns the words from the tool on (mpirun and its flags
        dropped), or None when it cannot be run here."""
        launcher = []
        if words[0] == "mpirun":
            launcher = words[:1]
            words = words[1:]
            while words and words[0].startswith("-"):
                launcher.append(words.pop(0))
                if launcher[-1] == "-np" and words:
                    launcher.append(words.pop(0))
        if not words:
            self.problem(block, launcher, "no program")
            return None
        program = words[0]
        built = False
        if program.startswith("build/bin/"):
            tool = os.path.join(self.bin_dir, program[len("build/bin/"):])
            if not os.access(tool, os.X_OK):
                self.problem(block, words, "%s is not a tool of this build" % program)
                return None
        elif "/" in program:
            # A program an earlier command built or installed: its arguments are checked, but
            # it does not run here.
            built = self.built(program)
            if not (built or self.exists(program)):
                self.problem(block, words, "%s does not exist" % program)
            if not built:
                return None
        elif launcher and not subprocess.run(["sh", "-c", "command -v " + program],
                                             stdout=subprocess.DEVNULL).returncode == 0:
            self.problem(block, words, "%s is not installed" % program)

        name = os.path.basename(program)
        help_text = self.help_text(tool, words) if program.startswith("build/bin/nn") else ""
        args = words[1:]
        for i, word in enumerate(args):
            if word == "..." or word.startswith("["):
                self.problem(block, words, "placeholder '%s'" % word)
            if word.startswith("-") and help_text and name != "nnc-opt":
                flag = word.split("=")[0]
                if not re.search(r"(^|[\s\[,])" + re.escape(flag) + r"([\s=,\]]|$)",
                                 help_text, re.M):
                    self.problem(block, words, "%s is not in '%s --help'" % (flag, name))
            if word.startswith("-"):
                continue
            previous = args[i - 1] if i else ""
            # Example models, and the README's own model programs, write their first argument.
            model_program = name.startswith("nnc-example-") or (
                built and name not in ("nnc", "nnrun", "nnc-opt"))
            writes = previous in OUTPUT_FLAGS or (model_program and i == 0)
            for part in word.split(","):
                if writes:
                    self.produced.add(part)
                elif looks_like_path(part) and not (self.exists(part) or
                                                    part in self.produced):
                    self.problem(block, words, "%s neither exists nor is written by an "
                                 "earlier command" % part)
        if name == "nnc-opt" and help_text:
            for word in args:
                if word.startswith("-nnc-") and ("--" + word[1:] not in help_text and
                                                 word not in help_text):
                    self.problem(block, words, "%s is not a pass of nnc-opt" % word)
        return None if launcher or built else words

    def run(self, block, words, workdir):
        """Runs a cheap command in workdir; the repository's files by absolute path."""
        name = os.path.basename(words[0])
        if not (name in ("nnc", "nnc-opt") or name.startswith("nnc-example-") or
                (name == "nnrun" and "--fit" not in words)):
            return False
        command = [os.path.join(self.bin_dir, name)]
        for word in words[1:]:
            parts = [os.path.join(self.repo, p)
                     if looks_like_path(p) and not os.path.isabs(p) and
                     p not in self.produced and self.exists(p) else p
                     for p in word.split(",")]
            command.append(",".join(parts))
        result = subprocess.run(command, cwd=workdir, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or [""])[-1]
            self.problem(block, words, "exit %d: %s" % (result.returncode, last))
        return True


def check_links(repo, problems):
    for doc in ("README.md", os.path.join("docs", "DESIGN.md")):
        path = os.path.join(repo, doc)
        if not os.path.exists(path):
            problems.append("%s does not exist" % doc)
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", open(path).read()):
            if re.match(r"[a-z]+://|#", target):
                continue
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target.split("#")[0]))
            if not resolved.startswith(os.path.abspath(repo) + os.sep):
                problems.append("%s: link '%s' leaves the repository" % (doc, target))
            elif not os.path.exists(resolved):
                problems.append("%s: link '%s' points at nothing" % (doc, target))


def main():
    repo, bin_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    run = "--run" in sys.argv[3:]
    checker = Checker(repo, bin_dir)
    checked = ran = 0
    with open(os.path.join(repo, "README.md")) as f:
        readme = f.read()
    with tempfile.TemporaryDirectory() as workdir:
        for block, words in commands(readme):
            checked += 1
            runnable = checker.check(block, words)
            if run and runnable:
                ran += checker.run(block, words, workdir)
    check_links(repo, checker.problems)
    for problem in checker.problems:
        print(problem)
    print("%d commands checked, %d run, %d problems" % (checked, ran, len(checker.problems)))
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
