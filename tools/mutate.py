#!/usr/bin/env python3
"""Mutation testing of sigreg's library sources: does the test suite notice a one-point change?

Mutants come from universalmutator (`pip install universalmutator`; its `mutate FILE cpp
--noCheck` writes one file per mutant: operators, constants, comparisons, deleted statements,
break/continue insertions...). This driver samples them (seeded, spread across the files in
scope), and for each one: copies it over the source in a scratch copy of the repository (the
work tree is never touched), rebuilds only what it touches (Ninja, the `cpu-only` preset with
libsigreg shared, so a mutant is one compile and one link), runs the test binaries fastest first
with a per-binary timeout, and records

  killed        a test binary failed (non-zero exit) — the suite noticed;
  timeout       a test binary ran past --timeout (counted as killed, reported apart);
  survived      every test binary passed — a gap, or an equivalent mutant;
  equivalent    every object file the build produced is byte-identical to the unmutated build's
                ("trivial compiler equivalence", Papadakis et al., ICSE 2015): the mutant is the
                same program, so no test can kill it; its tests are not run;
  no-compile    the mutant did not build (not counted in the score);

then writes a Markdown report (score = (killed + timeout) / compiling mutants, raw and without
the equivalent ones, and every survivor with its diff). It is not part of CI: ~160 mutants take about an hour on 2 cores.

  tools/mutate.py --count 160 --seed 1 --report build-mutate/report.md
  tools/mutate.py --list                      # the sampled mutants, nothing built
  tools/mutate.py --scope cuda                # host/cuda + kernels/ (needs a GPU to mean anything)
  tools/mutate.py --only host/cpu/simd.hpp --count 20

Scope `host` (default): host/reference, host/cpu, host/api, host/common and core/math.hpp
(Philox, Box–Muller, the count and backward coefficients: compiled into the host library too).
Scope `cuda`: the CUDA host code and kernels; build with CUDA on and run on a GPU machine.
"""

import argparse
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
import time

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
    "cuda": ["host/cuda/*.cu", "host/cuda/*.hpp", "kernels/*.cu", "kernels/*.cuh"],
}

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
    "test_reference",
    "test_cpu_kernels",
    "test_dtypes",
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


def generate(repo, relpath, workdir):
    """All universalmutator mutants of one file, minus comment-only, hopeless and duplicate ones.
    Returns [(mutant_id, text, removed, added)]."""
    src = os.path.join(repo, relpath)
    outdir = os.path.join(workdir, relpath.replace("/", "__"))
    os.makedirs(outdir, exist_ok=True)
    # universalmutator picks the language from the extension; .cuh/.hpp are C++ as well.
    base = os.path.basename(relpath)
    stem, ext = os.path.splitext(base)
    tmp_src = os.path.join(outdir, stem + ".cpp")
    shutil.copy(src, tmp_src)
    rc, _, out = run(["mutate", tmp_src, "cpp", "--noCheck", "--mutantDir", outdir], cwd=outdir)
    if rc != 0:
        sys.exit("mutate failed on %s:\n%s" % (relpath, out[-2000:]))
    original = open(src).read().splitlines()
    seen, mutants = set(), []
    for name in sorted(os.listdir(outdir), key=lambda n: (len(n), n)):
        if ".mutant." not in name:
            continue
        text = open(os.path.join(outdir, name)).read()
        if text in seen:
            continue
        seen.add(text)
        removed, added = changed_lines(original, text.splitlines())
        if (not removed and not added) or comment_only(removed, added):
            continue
        if hopeless(removed, added):
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
        quota[f] += int(left * len(per_file[f]) / max(total, 1))
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
    ap.add_argument("--timeout", type=int, default=120, help="seconds per test binary")
    ap.add_argument("--build-timeout", type=int, default=900)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--preset", default="cpu-only",
                    help="configure preset: cpu-only (default), or asan to kill mutants that only "
                         "corrupt memory (slow: ASan + UBSan)")
    ap.add_argument("--tests", help="comma-separated test binaries to run (default: all)")
    ap.add_argument("--scratch", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--report", default="build-mutate/report.md")
    ap.add_argument("--list", action="store_true", help="list the sampled mutants and stop")
    ap.add_argument("--exclude", metavar="REPORT",
                    help="leave out the mutants an earlier report (its .json) ran, to extend it")
    ap.add_argument("--pick", action="append", metavar="FILE#ID",
                    help="run this mutant instead of a sample (repeatable), e.g. to check that "
                         "a new test kills a survivor")
    args = ap.parse_args()

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
                       for p in glob.glob(os.path.join(repo, g))})
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
            shutil.copy(here, dst)
    for rel in files:  # and the files that carried mutants are rebuilt from their originals
        os.utime(os.path.join(src, rel))
    suffix = "" if args.preset == "cpu-only" else "-" + args.preset
    build = os.path.join(src, "build-mutate" + suffix)
    cuda = "ON" if args.scope == "cuda" else "OFF"
    tests = args.tests.split(",") if args.tests else TESTS
    rc, secs, out = run(["cmake", "--preset", args.preset, "-B", build,
                         "-DSIGREG_ENABLE_CUDA=" + cuda, "-DBUILD_SHARED_LIBS=ON",
                         "-DSIGREG_BUILD_BENCH=OFF", "-DSIGREG_BUILD_DRIVER=OFF",
                         "-DSIGREG_WARNINGS_AS_ERRORS=OFF",
                         # list the tests when ctest runs, not after each link: a mutant that
                         # breaks a binary's start must count as killed, not as a build failure
                         "-DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST"], cwd=src)
    if rc != 0:
        sys.exit("configure failed:\n" + out[-3000:])
    build_cmd = ["cmake", "--build", build, "-j", str(args.jobs), "--target"] + tests
    rc, secs, out = run(build_cmd, cwd=src, timeout=args.build_timeout)
    if rc != 0:
        sys.exit("the unmutated build failed:\n" + out[-3000:])
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    base_secs = 0.0
    for t in tests:  # the unmutated suite must pass, or every mutant would look killed
        rc, s, out = run([os.path.join(build, "tests", t)], timeout=args.timeout, env=env)
        base_secs += s
        if rc != 0:
            sys.exit("%s fails without a mutant:\n%s" % (t, out[-3000:]))
    base_objects = object_hashes(build)
    # Trivial compiler equivalence needs a reproducible build: recompiling the unmutated files
    # must give the same bytes. Where it does not (debug information, a time stamp), the check is off.
    for rel in files:
        os.utime(os.path.join(src, rel))
    run(build_cmd, cwd=src, timeout=args.build_timeout)
    tce = object_hashes(build) == base_objects
    print("baseline build and suite ok (suite %.1f s); trivial compiler equivalence %s; "
          "scratch %s" % (base_secs, "on" if tce else "OFF (the build is not reproducible)",
                          scratch))

    results, started = [], time.time()
    current = None  # the file now holding a mutant in the scratch copy
    for i, (f, mid, text, removed, added) in enumerate(chosen):
        path = os.path.join(src, f)
        if current is not None and current != f:  # restore with a new mtime: it must rebuild
            shutil.copy(os.path.join(repo, current), os.path.join(src, current))
        current = f
        with open(path, "w") as fh:
            fh.write(text)
        rc, build_secs, out = run(build_cmd, cwd=src, timeout=args.build_timeout)
        outcome, killer, test_secs = None, "", 0.0
        if rc != 0:
            outcome = "no-compile"
            errors = [l for l in out.splitlines() if "error" in l]
            first = errors[0] if errors else (out.strip().splitlines() or [""])[-1]
            killer = first.split("error:", 1)[-1].strip()[:60]
        elif tce and object_hashes(build) == base_objects:
            outcome, killer = "equivalent", "same object code"
        else:
            for t in tests:
                trc, s, _ = run([os.path.join(build, "tests", t)], timeout=args.timeout, env=env)
                test_secs += s
                if trc is None:
                    outcome, killer = "timeout", t
                    break
                if trc != 0:
                    outcome, killer = "killed", t
                    break
            outcome = outcome or "survived"
        results.append(dict(file=f, id=mid, removed=removed, added=added, outcome=outcome,
                            killer=killer, build=build_secs, test=test_secs))
        print("[%3d/%d] %-32s #%-4d %-10s %-22s build %5.1f s, tests %5.1f s" % (
            i + 1, len(chosen), f, mid, outcome, killer, build_secs, test_secs), flush=True)
    if current is not None:
        shutil.copy(os.path.join(repo, current), os.path.join(src, current))
    write_report(args, results, commit, dirty, time.time() - started, len(files),
                 sum(len(v) for v in per_file.values()))


def write_report(args, results, commit, dirty, seconds, nfiles, candidates):
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
        "dropped), %d sampled; %.0f min" % (nfiles, candidates, len(results), seconds / 60),
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
    print("\n".join(lines[:7]))
    print("report: " + args.report)


if __name__ == "__main__":
    main()
