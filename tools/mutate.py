#!/usr/bin/env python3
"""Mutation testing of sigreg's sources: does the test suite notice a one-point change?

Mutants come from universalmutator (`pip install universalmutator`; its `mutate FILE cpp|python
--noCheck` writes one file per mutant: operators, constants, comparisons, deleted statements,
break/continue insertions...). This driver samples them (seeded, spread across the files in
scope), and for each one: copies it over the source in a scratch copy of the repository (the
work tree is never touched), rebuilds only what it touches, runs the scope's tests fastest first,
and records

  killed        a test failed (non-zero exit) — the suite noticed;
  timeout       a test ran past --timeout (counted as killed, reported apart);
  survived      every test passed — a gap, or an equivalent mutant;
  equivalent    every object file the build produced is byte-identical to the unmutated build's
                ("trivial compiler equivalence", Papadakis et al., ICSE 2015), or, for Python, the
                mutant's syntax tree is the original's: the same program, so no test can kill it;
                its tests are not run;
  no-compile    the mutant did not build (not counted in the score);

then writes a Markdown report (score = (killed + timeout) / compiling mutants, raw and without
the equivalent ones, and every survivor with its diff). It is not part of CI (~160 host mutants
take about an hour on 2 cores).

  tools/mutate.py --count 160 --seed 1 --report build-mutate/report.md
  tools/mutate.py --list                      # the sampled mutants, nothing built
  tools/mutate.py --scope python --count 40   # the PyTorch package and its bindings
  tools/mutate.py --scope kernels --count 30  # kernels/*.cu through the kernel emulation
  tools/mutate.py --only host/cpu/simd.hpp --count 20
  tools/mutate.py --pick kernels/ecf_kernels.cu#812   # one mutant, e.g. to check a new test
  tools/mutate.py --scope kernels --count 30 --resume OLD.json  # finish an interrupted sample

Scopes:
  host     host/reference, host/cpu, host/api, host/common and core/math.hpp (Philox, Box–Muller,
           the count and backward coefficients: compiled into the host library too); the
           `cpu-only` preset with libsigreg shared (a mutant is one compile and one link) and the
           GoogleTest binaries.
  python   python/sigreg/*.py and python/csrc/bindings.cpp: the extension built CPU-only into the
           scratch copy's python/sigreg (a .py mutant needs no build, a bindings mutant rebuilds
           it), then one pytest process over tests/python, files fastest first, stopping at the
           first failure. Docstring- and comment-only mutants and ones that do not parse are
           dropped before sampling.
  kernels  kernels/*.cu, compiled for host threads by tests/kernel_emulation (to_host.py and the
           fake CUDA runtime): each mutant is run by the emulation checks that include its file
           (check_finite, check_lean, check_kernels with the tensor-core kernels where CuTe is
           installed), every grid variant of their run scripts (normal grid, 3 blocks, blocks
           reversed), requiring the variants' digests to agree. Fast pass: -O2
           -fno-strict-aliasing without sanitizers (CuTe reinterprets its register fragments,
           which g++'s type-based alias analysis breaks at -O2), a check stopping at its first
           failure; a mutant that survives it is run again as CI builds the emulation (-O1,
           AddressSanitizer and UBSan; the normal grid of each check) before it is called a
           survivor.
  cuda     host/cuda and kernels/ built with CUDA on (needs a GPU machine to mean anything).
"""

import argparse
import ast
import concurrent.futures
import datetime
import difflib
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings

SCOPES = {
    "host": [
        "host/reference/*.cpp",
        "host/cpu/*.cpp",
        "host/cpu/*.hpp",
        "host/api/*.cpp",
        "host/common/*.cpp",
        "host/common/*.hpp",
        "core/math.hpp",
    ],
    "python": ["python/sigreg/*.py", "python/csrc/bindings.cpp"],
    "kernels": ["kernels/*.cu"],
    "cuda": ["host/cuda/*.cu", "host/cuda/*.hpp", "kernels/*.cu", "kernels/*.cuh"],
}
# In a scope's folders but not built by its configuration (a mutant there would change no object
# and pass for an equivalent one): the stand-in for a build without the CPU backend.
NOT_BUILT = {"host": ["host/cpu/no_cpu.cpp"]}

# Binaries run again with an environment: OpenBLAS forced to its AVX kernels, below this CPU, so
# that test_cpu_info sees cpu_info's warning (its ctest cpu_blas_core_Sandybridge_test_cpu_info).
# A CBLAS other than OpenBLAS ignores the variable.
ENV_RUNS = [("test_cpu_info", {"OPENBLAS_CORETYPE": "Sandybridge"})]

# tests/python, fastest first (seconds on 2 cores, after the ~10 s torch import): one process, -x.
PYTHON_TESTS = ["test_module.py", "test_ops.py", "test_oracle.py", "test_convergence.py",
                "test_cpu_info.py", "test_distributed.py", "test_compile.py",
                "test_compile_cache.py"]

EMULATION = "tests/kernel_emulation"
# The kernel emulation's checks (as its run scripts build them): main source, the kernels/*.cu it
# compiles, the host sources it links, its grid variants, whether the variants' digests must
# agree, and whether it takes the CuTe (tensor-core) flags.
KERNEL_CHECKS = [
    dict(name="finite", main="check_finite.cpp", kernels=["finite_kernels", "ecf_kernels"],
         host=["host/common/knots.cpp"], digests=False, cute=False,
         variants=[("wide", []), ("narrow", ["-DSIGREG_KERNEL_MAX_BLOCKS=3"])]),
    dict(name="lean", main="check_lean.cpp", kernels=["lean_kernels", "ecf_kernels"],
         host=["host/reference/reference.cpp", "host/common/knots.cpp"], digests=True, cute=False,
         variants=[("wide", []), ("narrow", ["-DSIGREG_KERNEL_MAX_BLOCKS=3"]),
                   ("reversed", ["-DSIGREG_KERNEL_MAX_BLOCKS=3", "-DSIGREG_EMULATE_REVERSED_BLOCKS"])]),
    dict(name="kernels", main="check_kernels.cpp", kernels=["ecf_kernels", "fused_kernels"],
         host=["host/reference/reference.cpp", "host/common/knots.cpp"], digests=True, cute=True,
         variants=[("wide", []), ("narrow", ["-DSIGREG_KERNEL_MAX_BLOCKS=3"])]),
]
FAST_FLAGS = ["-O2", "-fno-strict-aliasing"]
CI_FLAGS = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]

# Test binaries, fastest first: a mutant is killed by the first one that fails.
TESTS = [
    "test_status",
    "test_knot_table",
    "test_handle",
    "test_validation",
    "test_make_directions",
    "test_find_nonfinite",
    "test_math_mode",
    "test_limits",
    "test_concurrency",
    "test_distributed_split",
    "test_determinism",
    "test_forward",
    "test_backward",
    "test_kept_projections",
    "test_reference",
    "test_cpu_kernels",
    "test_cpu_info",
    "test_dtypes",
    "test_independent_oracle",
]


def run(cmd, cwd=None, timeout=None, env=None):
    """Runs cmd; returns (returncode, seconds, output). returncode None means timeout."""
    start = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, timeout=timeout, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        return p.returncode, time.time() - start, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, time.time() - start, out


def object_hashes(build):
    """{object file: sha256} of every object file in the build tree. The Release presets compile
    without debug information, and a mutant keeps every line number, so an unchanged program gives
    byte-identical objects (the build is checked for that before the first mutant)."""
    hashes = {}
    for root, _, names in os.walk(build):
        for n in names:
            if n.endswith(".o"):
                path = os.path.join(root, n)
                with open(path, "rb") as fh:
                    hashes[os.path.relpath(path, build)] = hashlib.sha256(fh.read()).hexdigest()
    return hashes


def code_part(line):
    """The line without its // comment (good enough for this code base: no // inside strings
    on mutated lines matters, since a mutant inside a string changes code too)."""
    i = line.find("//")
    return (line if i < 0 else line[:i]).strip()


def changed_lines(original, mutant):
    """(removed, added) lines of a one-point mutant."""
    removed, added = [], []
    for op in difflib.ndiff(original, mutant):
        if op.startswith("- "):
            removed.append(op[2:])
        elif op.startswith("+ "):
            added.append(op[2:])
    return removed, added


def comment_only(removed, added):
    """True when the mutant changes nothing but comments or blank lines."""
    if not removed and all(not code_part(a) for a in added):
        return True
    if len(removed) == len(added):
        return all(code_part(r) == code_part(a) for r, a in zip(removed, added))
    return all(not code_part(r) for r in removed) and all(not code_part(a) for a in added)


def hopeless(removed, added):
    """Mutants that cannot compile or change nothing, skipped before building: a statement
    inserted into a blank line (universalmutator's break/continue anywhere), and a line commented
    out that is not a statement (a brace, a declaration head, a preprocessor line)."""
    if all(not r.strip() for r in removed):  # nothing but blank lines replaced, or a pure insertion
        return True
    if len(removed) == 1 and len(added) == 1 and added[0].strip().startswith("/*"):
        code = code_part(removed[0])
        return not code.endswith(";") or code.startswith("#")
    return False


def python_tree(text):
    """The syntax tree of a Python source without its docstrings and `pass` statements (None when
    it does not compile): two sources with the same tree differ only in comments, docstrings,
    layout or a `pass` that universalmutator put in place of a docstring."""
    try:
        with warnings.catch_warnings():  # universalmutator writes e.g. `2(x)`: let it fail later
            warnings.simplefilter("ignore")
            compile(text, "<mutant>", "exec")
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                body = body[1:]
            node.body = [n for n in body if not isinstance(n, ast.Pass)] or [ast.Pass()]
    return ast.dump(tree)


def generate(repo, relpath, workdir):
    """All universalmutator mutants of one file, minus comment-only, hopeless and duplicate ones
    (for Python: minus those that do not compile or leave the syntax tree without docstrings
    unchanged). Returns [(mutant_id, text, removed, added)]."""
    src = os.path.join(repo, relpath)
    outdir = os.path.join(workdir, relpath.replace("/", "__"))
    os.makedirs(outdir, exist_ok=True)
    # universalmutator picks the language from the extension; .cu/.cuh/.hpp are C++ as well.
    stem, ext = os.path.splitext(os.path.basename(relpath))
    python = ext == ".py"
    tmp_src = os.path.join(outdir, stem + (".py" if python else ".cpp"))
    shutil.copy(src, tmp_src)
    rc, _, out = run(["mutate", tmp_src, "python" if python else "cpp", "--noCheck",
                      "--mutantDir", outdir], cwd=outdir)
    if rc != 0:
        sys.exit("mutate failed on %s:\n%s" % (relpath, out[-2000:]))
    original_text = open(src).read()
    original = original_text.splitlines()
    original_tree = python_tree(original_text) if python else None
    seen, mutants = set(), []
    for name in sorted(os.listdir(outdir), key=lambda n: (len(n), n)):
        if ".mutant." not in name:
            continue
        text = open(os.path.join(outdir, name)).read()
        if text in seen:
            continue
        seen.add(text)
        removed, added = changed_lines(original, text.splitlines())
        if not removed and not added:
            continue
        if python:
            tree = python_tree(text)
            if tree is None or tree == original_tree:
                continue
        elif comment_only(removed, added) or hopeless(removed, added):
            continue
        mutant_id = int(name.split(".mutant.")[1].split(".")[0])
        mutants.append((mutant_id, text, removed, added))
    return mutants


def sample(per_file, count, rng):
    """count mutants spread over the files: at least min(4, n) from each, the rest in proportion
    to each file's number of mutants."""
    files = sorted(per_file)
    total = sum(len(per_file[f]) for f in files)
    quota = {f: min(4, len(per_file[f])) for f in files}
    left = count - sum(quota.values())
    for f in files:
        quota[f] += int(max(left, 0) * len(per_file[f]) / max(total, 1))
    while sum(quota.values()) > count:  # fewer than 4 a file: drop from the fullest first
        quota[max(files, key=lambda f: (quota[f], rng.random()))] -= 1
    extra = count - sum(quota.values())
    for f in rng.sample(files, len(files)):
        if extra <= 0:
            break
        if quota[f] < len(per_file[f]):
            quota[f] += 1
            extra -= 1
    chosen = []
    for f in files:
        picks = rng.sample(per_file[f], min(quota[f], len(per_file[f])))
        chosen += [(f,) + m for m in sorted(picks, key=lambda m: m[0])]
    return chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scope", choices=sorted(SCOPES), default="host")
    ap.add_argument("--only", action="append", help="mutate only this file (repeatable)")
    ap.add_argument("--count", type=int, default=160, help="mutants to run (default 160)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds per test binary (default 120; python: 900 for the whole suite; "
                         "kernels: 600 per emulation run)")
    ap.add_argument("--build-timeout", type=int, default=900)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--preset", default="cpu-only",
                    help="host scope's configure preset: cpu-only (default), or asan to kill "
                         "mutants that only corrupt memory (slow: ASan + UBSan)")
    ap.add_argument("--tests", help="comma-separated test binaries (python: test files) to run "
                                    "(default: all)")
    ap.add_argument("--scratch", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--report", default="build-mutate/report.md")
    ap.add_argument("--list", action="store_true", help="list the sampled mutants and stop")
    ap.add_argument("--exclude", metavar="REPORT",
                    help="leave out the mutants an earlier report (its .json) ran, to extend it")
    ap.add_argument("--resume", metavar="REPORT",
                    help="take the verdicts an interrupted run of the same sample (same scope, "
                         "seed and count) wrote to its .json, and run only the rest")
    ap.add_argument("--pick", action="append", metavar="FILE#ID",
                    help="run this mutant instead of a sample (repeatable), e.g. to check that "
                         "a new test kills a survivor")
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = {"python": 900, "kernels": 600}.get(args.scope, 120)

    repo = subprocess.run(["git", "rev-parse", "--show-toplevel"], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                            stdout=subprocess.PIPE, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    if shutil.which("mutate") is None:
        sys.exit("universalmutator not found: pip install universalmutator")

    picks = [(p.split("#")[0], int(p.split("#")[1])) for p in (args.pick or [])]
    in_scope = sorted({os.path.relpath(p, repo) for g in SCOPES[args.scope]
                       for p in glob.glob(os.path.join(repo, g))} -
                      set(NOT_BUILT.get(args.scope, [])))
    files = sorted({f for f, _ in picks}) or args.only or in_scope
    scratch = args.scratch or tempfile.mkdtemp(prefix="sigreg-mutate-")
    gen_dir = os.path.join(scratch, "mutants")
    per_file = {f: generate(repo, f, gen_dir) for f in files}
    if args.exclude:
        done = {(r["file"], r["id"]) for r in json.load(open(args.exclude))}
        per_file = {f: [m for m in ms if (f, m[0]) not in done] for f, ms in per_file.items()}
    rng = random.Random(args.seed)
    chosen = sample(per_file, args.count, rng)
    if picks:
        chosen = [(f,) + m for f, i in picks for m in per_file[f] if m[0] == i]
    print("%d candidate mutants in %d files; %d sampled (seed %d)" % (
        sum(len(v) for v in per_file.values()), len(files), len(chosen), args.seed))
    if args.list:
        for f, mid, _, removed, added in chosen:
            print("%s #%d: %s  ->  %s" % (f, mid, " / ".join(r.strip() for r in removed),
                                          " / ".join(a.strip() for a in added)))
        return

    # A scratch copy of the tracked files (plus uncommitted edits): mutants never touch the tree.
    # A reused scratch copy is brought back in line first (an interrupted run may have left a
    # mutant in it); a changed file gets a new mtime, so Ninja rebuilds it.
    src = os.path.join(scratch, "src")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, stdout=subprocess.PIPE,
                             check=True).stdout.decode().split("\0")
    for rel in filter(None, tracked):
        here, dst = os.path.join(repo, rel), os.path.join(src, rel)
        if not os.path.isfile(here):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.isfile(dst) or open(here, "rb").read() != open(dst, "rb").read():
            shutil.copy2(here, dst)
    for rel in files:  # and the files that carried mutants are rebuilt from their originals
        os.utime(os.path.join(src, rel))

    runner = {"python": PythonRunner, "kernels": KernelRunner}.get(args.scope, CMakeRunner)(
        args, repo, src, files)
    runner.baseline()

    resumed = {(r["file"], r["id"]): r for r in json.load(open(args.resume))} if args.resume else {}
    results, started = [], time.time()
    current = None  # the file now holding a mutant in the scratch copy
    for i, (f, mid, text, removed, added) in enumerate(chosen):
        if (f, mid) in resumed:
            results.append(resumed[(f, mid)])
            print("[%3d/%d] %-32s #%-4d %-10s (from %s)" % (
                i + 1, len(chosen), f, mid, results[-1]["outcome"], args.resume), flush=True)
            continue
        path = os.path.join(src, f)
        if current is not None and current != f:  # restore with a new mtime: it must rebuild
            shutil.copy(os.path.join(repo, current), os.path.join(src, current))
        current = f
        with open(path, "w") as fh:
            fh.write(text)
        outcome, killer, build_secs, test_secs = runner.judge(f)
        results.append(dict(file=f, id=mid, removed=removed, added=added, outcome=outcome,
                            killer=killer, build=build_secs, test=test_secs))
        print("[%3d/%d] %-32s #%-4d %-10s %-22s build %5.1f s, tests %5.1f s" % (
            i + 1, len(chosen), f, mid, outcome, killer, build_secs, test_secs), flush=True)
        write_report(args, results, commit, dirty, time.time() - started, len(files),
                     sum(len(v) for v in per_file.values()), quiet=True)
    if current is not None:
        shutil.copy(os.path.join(repo, current), os.path.join(src, current))
    write_report(args, results, commit, dirty, time.time() - started, len(files),
                 sum(len(v) for v in per_file.values()))


def first_error(out):
    errors = [l for l in out.splitlines() if "error" in l]
    first = errors[0] if errors else (out.strip().splitlines() or [""])[-1]
    return first.split("error:", 1)[-1].strip()[:60]


class CMakeRunner:
    """Scopes host and cuda: a Ninja build of the GoogleTest binaries, run fastest first."""

    def __init__(self, args, repo, src, files):
        self.args, self.repo, self.src, self.files = args, repo, src, files
        suffix = "" if args.preset == "cpu-only" else "-" + args.preset
        self.build = os.path.join(src, "build-mutate" + suffix)
        self.tests = args.tests.split(",") if args.tests else TESTS
        self.build_cmd = ["cmake", "--build", self.build, "-j", str(args.jobs), "--target"]
        self.build_cmd += self.targets()
        self.env = dict(os.environ, OMP_WAIT_POLICY="passive")

    def targets(self):
        return self.tests

    def configure(self, extra):
        cuda = "ON" if self.args.scope == "cuda" else "OFF"
        rc, _, out = run(["cmake", "--preset", self.args.preset, "-B", self.build,
                          "-DSIGREG_ENABLE_CUDA=" + cuda, "-DSIGREG_BUILD_BENCH=OFF",
                          "-DSIGREG_BUILD_DRIVER=OFF", "-DSIGREG_WARNINGS_AS_ERRORS=OFF"] + extra,
                         cwd=self.src)
        if rc != 0:
            sys.exit("configure failed:\n" + out[-3000:])

    def baseline(self):
        self.configure(["-DBUILD_SHARED_LIBS=ON",
                        # list the tests when ctest runs, not after each link: a mutant that
                        # breaks a binary's start must count as killed, not as a build failure
                        "-DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST"])
        self.compile_baseline()
        secs = 0.0
        for name, cmd, env in self.test_commands():  # the unmutated suite must pass
            rc, s, out = run(cmd, timeout=self.args.timeout, env=env)
            secs += s
            if rc != 0:
                sys.exit("%s fails without a mutant:\n%s" % (name, out[-3000:]))
        print("baseline build and suite ok (suite %.1f s); trivial compiler equivalence %s; "
              "scratch %s" % (secs, "on" if self.tce else "OFF (the build is not reproducible)",
                              os.path.dirname(self.src)))

    def compile_baseline(self):
        rc, _, out = run(self.build_cmd, cwd=self.src, timeout=self.args.build_timeout)
        if rc != 0:
            sys.exit("the unmutated build failed:\n" + out[-3000:])
        self.base_objects = object_hashes(self.build)
        # Trivial compiler equivalence needs a reproducible build: recompiling the unmutated
        # files must give the same bytes. Where it does not (debug information, a time stamp),
        # the check is off.
        for rel in self.files:
            os.utime(os.path.join(self.src, rel))
        run(self.build_cmd, cwd=self.src, timeout=self.args.build_timeout)
        self.tce = object_hashes(self.build) == self.base_objects

    def test_commands(self):
        """(name, command, environment): each binary, then the reruns of ENV_RUNS."""
        runs = [(t, [os.path.join(self.build, "tests", t)], self.env) for t in self.tests]
        runs += [("%s[%s]" % (t, ",".join("%s=%s" % kv for kv in env.items())),
                  [os.path.join(self.build, "tests", t)], dict(self.env, **env))
                 for t, env in ENV_RUNS if t in self.tests]
        return runs

    def rebuild(self, f):
        """Builds the mutant: (None | "no-compile" | "equivalent", why, seconds)."""
        rc, secs, out = run(self.build_cmd, cwd=self.src, timeout=self.args.build_timeout)
        if rc != 0:
            return "no-compile", first_error(out), secs
        if self.tce and object_hashes(self.build) == self.base_objects:
            return "equivalent", "same object code", secs
        return None, "", secs

    def judge(self, f):
        outcome, killer, build_secs = self.rebuild(f)
        test_secs = 0.0
        if outcome is None:
            for name, cmd, env in self.test_commands():
                rc, s, _ = run(cmd, timeout=self.args.timeout, env=env)
                test_secs += s
                if rc is None or rc != 0:
                    outcome, killer = ("timeout" if rc is None else "killed"), name
                    break
        return outcome or "survived", killer, build_secs, test_secs


class PythonRunner(CMakeRunner):
    """Scope python: the extension built CPU-only into the scratch python/sigreg, one pytest
    process over tests/python (fastest file first, -x). A .py mutant is judged by its syntax
    tree (generate() dropped the unchanged ones), a bindings.cpp mutant by its object code."""

    def __init__(self, args, repo, src, files):
        super().__init__(args, repo, src, files)
        self.build = os.path.join(src, "build-mutate-python")
        self.build_cmd = ["cmake", "--build", self.build, "-j", str(args.jobs), "--target",
                          "sigreg_torch"]
        self.tests = args.tests.split(",") if args.tests else PYTHON_TESTS
        self.env = dict(os.environ, OMP_WAIT_POLICY="passive", PYTHONDONTWRITEBYTECODE="1",
                        PYTHONPATH=os.path.join(src, "python"))

    def baseline(self):
        self.configure(["-DSIGREG_BUILD_PYTHON=ON", "-DSIGREG_BUILD_TESTS=OFF"])
        self.compile_baseline()
        self.install()
        self.original_installed = True
        rc, s, out = run(self.test_commands()[0][1], timeout=self.args.timeout, env=self.env,
                         cwd=self.src)
        if rc != 0:
            sys.exit("tests/python fails without a mutant:\n" + out[-3000:])
        print("baseline build and suite ok (suite %.1f s); trivial compiler equivalence %s "
              "(bindings.cpp); scratch %s" % (s, "on" if self.tce else "OFF",
                                              os.path.dirname(self.src)))

    def install(self):
        shutil.copy(os.path.join(self.build, "python", "_sigreg_ops.so"),
                    os.path.join(self.src, "python", "sigreg", "_sigreg_ops.so"))

    def test_commands(self):
        files = [os.path.join("tests", "python", t) for t in self.tests]
        return [("pytest", [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
                 + files)]

    def rebuild(self, f):
        """A .py mutant runs against the original extension: where a bindings mutant's is
        installed, the restored bindings.cpp is rebuilt first."""
        if f.endswith(".py"):
            if not self.original_installed:
                rc, secs, out = run(self.build_cmd, cwd=self.src, timeout=self.args.build_timeout)
                if rc != 0:
                    sys.exit("rebuilding the unmutated extension failed:\n" + out[-3000:])
                self.install()
                self.original_installed = True
                return None, "", secs
            return None, "", 0.0
        outcome, why, secs = super().rebuild(f)
        if outcome is None:
            self.install()
            self.original_installed = False
        return outcome, why, secs

    def judge(self, f):
        outcome, killer, build_secs = self.rebuild(f)
        test_secs = 0.0
        if outcome is None:
            rc, test_secs, out = run(self.test_commands()[0][1], timeout=self.args.timeout,
                                     env=self.env, cwd=self.src)
            if rc is None:
                outcome, killer = "timeout", "pytest"
            elif rc != 0:
                failed = [l.split()[1] for l in out.splitlines()
                          if l.startswith(("FAILED tests/", "ERROR tests/"))]
                outcome, killer = "killed", (failed[0] if failed else "pytest rc %d" % rc)[:60]
        return outcome or "survived", killer, build_secs, test_secs


class ConversionError(Exception):
    """to_host.py could not rewrite a kernel file's launches (the mutant broke their syntax)."""


class KernelRunner:
    """Scope kernels: the emulation checks of tests/kernel_emulation, compiled by this driver
    (objects cached by source text and flags, so a mutant recompiles only its own file)."""

    def __init__(self, args, repo, src, files):
        self.args, self.repo, self.src, self.files = args, repo, src, files
        self.out = os.path.join(src, "build-mutate-kernels")
        self.cache = os.path.join(self.out, "objects")
        os.makedirs(self.cache, exist_ok=True)
        here = os.path.join(src, EMULATION)
        self.common = ["-std=c++20", "-pthread", "-I" + os.path.join(here, "fake"), "-I" + src,
                       "-I" + os.path.join(src, "include")]
        self.cute = []
        probe = subprocess.run([sys.executable, "-c", "import cutlass_library, os; print(os.path."
                                "join(os.path.dirname(cutlass_library.__file__), 'source', "
                                "'include'))"], stdout=subprocess.PIPE, text=True)
        cute = os.environ.get("SIGREG_CUTLASS_INCLUDE_DIR") or probe.stdout.strip()
        nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
        cuda_root = os.path.dirname(os.path.dirname(nvcc))
        cccl = next((d for d in (os.path.join(cuda_root, "include", "cccl"),
                                 os.path.join(cuda_root, "include"))
                     if os.path.isfile(os.path.join(d, "cuda", "std", "utility"))), None)
        if cute and os.path.isfile(os.path.join(cute, "cute", "tensor.hpp")) and cccl:
            self.cute = ["-DSIGREG_HAVE_CUTE=1", "-DSIGREG_EMULATED_MMA",
                         "-DCCCL_DISABLE_FP16_SUPPORT", "-isystem", cute, "-isystem", cccl,
                         "-include", os.path.join(here, "emulated_mma.hpp")]
        else:
            print("CuTe or libcu++ headers not found: the tensor-core kernels are not emulated")
        self.env = dict(os.environ, SIGREG_EMULATION_FAIL_FAST="1",
                        ASAN_OPTIONS="detect_leaks=0")
        self.cxx = os.environ.get("CXX", "g++")
        self.tce = True

    def checks_of(self, f):
        stem = os.path.splitext(os.path.basename(f))[0]
        return [c for c in self.checks if stem in c["kernels"]]

    def headers_key(self):
        """Every header a translation unit may include: part of each object's cache key."""
        h = hashlib.sha256()
        for pattern in ("kernels/*.cuh", "core/*.hpp", "include/sigreg/*.h*", EMULATION + "/*.hpp",
                        EMULATION + "/fake/*"):
            for p in sorted(glob.glob(os.path.join(self.src, pattern))):
                h.update(p.encode() + open(p, "rb").read())
        return h.hexdigest()

    def sources(self, check):
        """The check's translation units: (name, text) with the kernels converted for host."""
        units = [(check["main"], open(os.path.join(self.src, EMULATION, check["main"])).read())]
        for k in check["kernels"]:
            cu = os.path.join(self.src, "kernels", k + ".cu")
            tmp = os.path.join(self.out, k + ".cpp")
            conv = subprocess.run([sys.executable, os.path.join(self.src, EMULATION, "to_host.py"),
                                   cu, tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
            if conv.returncode != 0:  # a mutant that breaks a launch's syntax
                raise ConversionError(conv.stdout.strip())
            units.append((k + ".cpp", open(tmp).read()))
        units += [(h, open(os.path.join(self.src, h)).read()) for h in check["host"]]
        return units

    def compile_units(self, check, variant_flags, mode):
        """Compiles (or finds cached) every unit of check for one variant; returns (ok, error,
        {unit: object path})."""
        flags = self.common + (FAST_FLAGS if mode == "fast" else CI_FLAGS) + variant_flags
        flags += self.cute if check["cute"] else []
        jobs, objects = [], {}
        try:
            units = self.sources(check)
        except ConversionError as e:
            return False, str(e), {}
        for name, text in units:
            key = hashlib.sha256(("stdin\0" + self.headers_key_cached + "\0".join(flags) + name + text)
                                 .encode()).hexdigest()[:24]
            obj = os.path.join(self.cache, key + ".o")
            objects[name] = obj
            if not os.path.isfile(obj):
                # from standard input, so that the object names no file (its STT_FILE symbol is
                # "<stdin>"): a mutant that compiles to the same code gives the same bytes
                origin = (os.path.join(self.src, EMULATION) if name == check["main"] else
                          os.path.join(self.src, os.path.dirname(name)) if "/" in name else
                          os.path.join(self.src, "kernels"))
                tmp = "%s.%d-%d.tmp" % (obj, os.getpid(), threading.get_ident())
                jobs.append(([self.cxx] + flags + ["-iquote", origin, "-x", "c++", "-c", "-",
                                                    "-o", tmp], obj, tmp, text))
        running = []
        errors = ""
        for cmd, obj, tmp, text in jobs:  # --jobs compiles at a time
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace")
            p.stdin.write(text)
            p.stdin.close()
            running.append((p, obj, tmp))
            if len(running) >= self.args.jobs:
                errors += self.wait_one(running)
        while running:
            errors += self.wait_one(running)
        return not errors, errors, objects

    @staticmethod
    def wait_one(running):
        p, obj, tmp = running.pop(0)
        out = p.stdout.read()
        p.wait()
        if p.returncode != 0:
            return out or "compile failed"
        os.replace(tmp, obj)
        return ""

    def run_check(self, check, mode):
        """Builds and runs the variants of check (in mode "ci" only the first, the normal grid:
        the sanitizers look for memory errors, the fast pass compared the grids): (outcome or
        None, why, build s, test s, {unit: [object per variant]})."""
        build_secs = test_secs = 0.0
        digests, objects = {}, {}
        for vname, vflags in check["variants"][:None if mode == "fast" else 1]:
            t0 = time.time()
            ok, err, objs = self.compile_units(check, vflags, mode)
            for unit, obj in objs.items():
                objects.setdefault(unit, []).append(obj)
            exe = os.path.join(self.out, "check_%s_%s_%s" % (check["name"], vname, mode))
            if ok:
                rc = subprocess.run([self.cxx] + self.common + (FAST_FLAGS if mode == "fast" else
                                    CI_FLAGS) + list(objs.values()) + ["-o", exe],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                ok, err = rc.returncode == 0, rc.stdout
            build_secs += time.time() - t0
            if not ok:
                return "no-compile", first_error(err), build_secs, test_secs, objects
            rc, s, out = run([exe], timeout=self.args.timeout, env=self.env)
            test_secs += s
            label = "%s/%s" % (check["name"], vname)
            if rc is None:
                return "timeout", label, build_secs, test_secs, objects
            if rc != 0:
                return "killed", label, build_secs, test_secs, objects
            digests[vname] = [l for l in out.splitlines() if l.startswith("digest")]
        if check["digests"] and len({tuple(d) for d in digests.values()}) > 1:
            return "killed", "%s digests" % check["name"], build_secs, test_secs, objects
        return None, "", build_secs, test_secs, objects

    def baseline(self):
        self.headers_key_cached = self.headers_key()
        self.checks = list(KERNEL_CHECKS)
        timing, self.base_objects = {}, {}
        for check in self.checks:
            outcome, why, b, t, objects = self.run_check(check, "fast")
            if outcome is not None:
                sys.exit("emulation check %s fails without a mutant (%s)" % (check["name"], why))
            timing[check["name"]] = t
            self.base_objects[check["name"]] = {u: [open(o, "rb").read() for o in objs]
                                                for u, objs in objects.items()}
        self.checks.sort(key=lambda c: timing[c["name"]])  # fastest first
        print("baseline emulation ok (%s); scratch %s" % (
            ", ".join("%s %.0f s" % kv for kv in timing.items()), os.path.dirname(self.src)))

    def judge(self, f):
        """Trivial compiler equivalence first (the mutated unit's fast objects against the
        baseline's, every variant of every check that includes it), then the fast runs, then the
        CI-flag runs of a fast survivor."""
        unit = os.path.splitext(os.path.basename(f))[0] + ".cpp"
        checks = self.checks_of(f)
        t0, same = time.time(), True
        builds = [(check, i, vflags) for check in checks
                  for i, (_, vflags) in enumerate(check["variants"])]
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as pool:  # variants at once
            compiled = list(pool.map(lambda b: self.compile_units(b[0], b[2], "fast"), builds))
        for (check, i, _), (ok, err, objects) in zip(builds, compiled):
            if not ok:
                return "no-compile", first_error(err), time.time() - t0, 0.0
            base = self.base_objects[check["name"]][unit][i]
            same = same and open(objects[unit], "rb").read() == base
        build_secs, test_secs = time.time() - t0, 0.0
        if same:
            return "equivalent", "same object code", build_secs, test_secs
        for mode in ("fast", "ci"):
            for check in checks:
                outcome, why, b, t, _ = self.run_check(check, mode)
                build_secs, test_secs = build_secs + b, test_secs + t
                if outcome is not None:
                    return outcome, why + (" (asan)" if mode == "ci" else ""), build_secs, test_secs
        return "survived", "", build_secs, test_secs


def write_report(args, results, commit, dirty, seconds, nfiles, candidates, quiet=False):
    """The Markdown report and its .json (rewritten after every mutant: an interrupted run
    keeps what it judged)."""
    count = lambda o: sum(1 for r in results if r["outcome"] == o)
    killed, timeout, survived, nocomp, same = (count("killed"), count("timeout"),
                                               count("survived"), count("no-compile"),
                                               count("equivalent"))
    compiling = killed + timeout + survived + same
    score = 100.0 * (killed + timeout) / compiling if compiling else 0.0
    distinct = compiling - same
    score_distinct = 100.0 * (killed + timeout) / distinct if distinct else 0.0
    lines = [
        "# Mutation report",
        "",
        "- command: `tools/mutate.py --scope %s --count %d --seed %d%s%s%s%s`" % (
            args.scope, args.count, args.seed,
            (" --preset " + args.preset if args.preset != "cpu-only" else "") +
            (" --tests " + args.tests if args.tests else ""),
            " --exclude " + args.exclude if args.exclude else "",
            "".join(" --only " + o for o in (args.only or [])),
            "".join(" --pick " + o for o in (args.pick or []))),
        "- date: %s; commit %s%s" % (datetime.date.today().isoformat(), commit,
                                      " (with uncommitted changes)" if dirty else ""),
        "- %d files, %d candidate mutants (universalmutator, comment-only and duplicate ones "
        "dropped; for Python, also those that do not compile or change only docstrings), %d "
        "sampled; %.0f min" % (nfiles, candidates, len(results), seconds / 60),
        "- killed %d, timeout %d, survived %d, same object code as the original %d, did not "
        "compile %d" % (killed, timeout, survived, same, nocomp),
        "- **%.1f%% of the %d compiling mutants killed; %.1f%% of the %d that change the object "
        "code**" % (score, compiling, score_distinct, distinct),
        "",
        "| file | sampled | compiled | same object code | killed (+timeout) | survived |",
        "|---|---|---|---|---|---|",
    ]
    for f in sorted({r["file"] for r in results}):
        rs = [r for r in results if r["file"] == f]
        comp = [r for r in rs if r["outcome"] != "no-compile"]
        lines.append("| %s | %d | %d | %d | %d | %d |" % (
            f, len(rs), len(comp), sum(r["outcome"] == "equivalent" for r in comp),
            sum(r["outcome"] in ("killed", "timeout") for r in comp),
            sum(r["outcome"] == "survived" for r in comp)))
    for title, kind in (("Survivors", "survived"), ("Same object code as the original", "equivalent")):
        lines += ["", "## " + title, ""]
        lines += ["- `%s` #%d: `%s` → `%s`" % (
            r["file"], r["id"], " / ".join(x.strip() for x in r["removed"]),
            " / ".join(x.strip() for x in r["added"])) for r in results if r["outcome"] == kind]
    lines += ["", "## Killers", ""]
    killers = {}
    for r in results:
        if r["outcome"] in ("killed", "timeout"):
            killers[r["killer"]] = killers.get(r["killer"], 0) + 1
    for k, v in sorted(killers.items(), key=lambda kv: -kv[1]):
        lines.append("- %s: %d" % (k, v))
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.report)[0] + ".json", "w") as fh:  # for --exclude
        json.dump(results, fh, indent=1)
    if not quiet:
        print("\n".join(lines[:7]))
        print("report: " + args.report)


if __name__ == "__main__":
    main()
