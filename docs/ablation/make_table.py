#!/usr/bin/env python3
"""Extracts the ablation table of docs/ablation/README.md from sigreg_toy results.json files.

usage: make_table.py [--root out/ablation] [--json docs/ablation/ablation.json]
Reads <root>/<name>/results.json for every configuration in CONFIGS (missing ones are skipped),
prints the markdown table on stdout and writes the extracted numbers as JSON. Standard library only.
"""
import argparse
import json
import os
import sys

# name, flags added to the default protocol (as run), what it changes
CONFIGS = [
    ("base", "", "defaults"),
    ("gelu", "--activation gelu", "GELU instead of ReLU"),
    ("pooled", "--sigreg-groups 1", "SIGReg on one pooled group of 2B instead of 2 groups of B"),
    ("k10", "--neighbors 10", "10 training pairs per point"),
    ("k2", "--neighbors 2", "2 training pairs per point"),
    ("lam0.5", "--lambda 0.5", "SIGReg weight 0.5"),
    ("lam2", "--lambda 2", "SIGReg weight 2"),
    ("std", "--standardize", "each input dimension z-scored"),
]
STEPS = [0, 1000, 2000, 3000]
# How the stored results were produced (see README.md); copied into the JSON.
RUN = {
    "command": "build/driver/sigreg_toy --seeds 5 --jobs 2 <flags> --out out/ablation/<name>",
    "machine": "2-vCPU VM (AMD EPYC), shared with concurrent compilation; SIGReg backend cpu",
    "configs_run": "one after another, never two at once",
}
BLOG = 0.765


def mean(v):
    return sum(v) / len(v)


def extract(path):
    d = json.load(open(path))
    s = d["summary"]
    seeds = d["seeds"]
    traj = {}
    for step in sorted({e["step"] for e in seeds[0]["sigreg"]["trajectory"]}):
        lin, rnd, knn = [], [], []
        for r in seeds:
            e = [x for x in r["sigreg"]["trajectory"] if x["step"] == step]
            if len(e) != 1:
                break
            lin.append(e[0]["linear_r2"])
            rnd.append(e[0]["roundness_ratio"])
            knn.append(e[0]["knn_r2"])
        else:
            traj[step] = {
                "linear_r2": {"mean": mean(lin), "min": min(lin), "max": max(lin)},
                "knn_r2_mean": mean(knn),
                "roundness_ratio_mean": mean(rnd),
                "blog_reached": mean(lin) >= BLOG and min(lin) >= BLOG,
            }
    sig = s["sigreg"]
    final_step = int(d["protocol"]["steps"])
    return {
        "protocol": d["protocol"],
        "wall_seconds": d["wall_seconds"],
        "sigreg": {
            "linear_r2": sig["linear_r2"],
            "knn_r2": sig["knn_r2"],
            "roundness_ratio": sig["roundness_ratio"],
            "spread": sig["spread"],
            "eig_min_mean": sig["eig_min"]["mean"],
            "eig_max_mean": sig["eig_max"]["mean"],
            "blog_reached_at_end": sig["linear_r2"]["mean"] >= BLOG
            and sig["linear_r2"]["min"] >= BLOG,
            "final_step": final_step,
        },
        "collapse": {
            "linear_r2": s["collapse"]["linear_r2"],
            "spread": s["collapse"]["spread"],
        },
        "raw": {"linear_r2": s["raw"]["linear_r2"]},
        "trajectory": {str(k): v for k, v in traj.items()},
        "steps_where_blog_reached": [k for k, v in traj.items() if v["blog_reached"]],
    }


def mmm(x, f="%.3f"):
    return (f + " [" + f + ", " + f + "]") % (x["mean"], x["min"], x["max"])


def table(rows):
    head = (
        "| config | flags | SIGReg linear R² (step 3000) | kNN R² | roundness | cov. eig. min … max"
        " | lin. R² @0 / 1000 / 2000 / 3000 | roundness @0 / 1000 / 2000 / 3000"
        " | steps with mean and worst R² ≥ 0.765"
        " | collapse linear R² | collapse spread | raw linear R² |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    out = head
    for name, flags, r in rows:
        sg, tr = r["sigreg"], r["trajectory"]
        lin_t = " / ".join("%.3f" % tr[str(k)]["linear_r2"]["mean"] if str(k) in tr else "—"
                           for k in STEPS)
        rnd_t = " / ".join("%.3g" % tr[str(k)]["roundness_ratio_mean"] if str(k) in tr else "—"
                           for k in STEPS)
        reached = ", ".join(str(k) for k in r["steps_where_blog_reached"]) or "none"
        out += "| %s | %s | %s | %.3f | %.3g | %.2g … %.3g | %s | %s | %s | %s | %s | %.3f |\n" % (
            name, "`" + flags + "`" if flags else "—", mmm(sg["linear_r2"]), sg["knn_r2"]["mean"],
            sg["roundness_ratio"]["mean"], sg["eig_min_mean"], sg["eig_max_mean"], lin_t, rnd_t,
            reached,
            mmm(r["collapse"]["linear_r2"]), mmm(r["collapse"]["spread"], "%.2g"),
            r["raw"]["linear_r2"]["mean"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="out/ablation")
    ap.add_argument("--json", default="docs/ablation/ablation.json")
    a = ap.parse_args()
    rows, out = [], {"blog_r2": BLOG, "run": RUN, "configs": {}}
    for name, flags, what in CONFIGS:
        path = os.path.join(a.root, name, "results.json")
        if not os.path.exists(path):
            print("missing " + path, file=sys.stderr)
            continue
        r = extract(path)
        r["flags"] = flags
        r["changes"] = what
        out["configs"][name] = r
        rows.append((name, flags, r))
    sys.stdout.write(table(rows))
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
