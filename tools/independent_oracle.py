#!/usr/bin/env python3
"""An oracle for SIGReg that shares no code with the library: mpmath at 40 digits, from the
formulas of docs/design.md §1 alone.

For a few small problems with given Z and given directions A (both float32 values, so that every
backend is fed exactly the numbers computed with here), it computes the ECF sums, the
Epps–Pulley statistic of every (group, slice), the loss and dZ, and writes them as C++ constants
(tests/independent_values.hpp), which tests/test_independent_oracle.cpp compares every backend
with.

What is independent of the library (host/common/knots.cpp, reference::finalize, the backends):
  - the knots are t_i = i·Δ on the whole symmetric grid [−t_max, t_max] (2M − 1 nodes), and the
    rule's weights are the textbook composite trapezoid / Simpson weights on that grid — not the
    library's folded weights q_j on [0, t_max];
  - the characteristic function of N(0, 1) is computed by quadrature of ∫ cos(t x) e^{−x²/2}/√(2π)
    dx (and only checked against exp(−t²/2));
  - the statistic is N·Σ_i W_i·|φ̂(t_i) − φ(t_i)|²·φ(t_i) over that grid, with the complex ECF
    φ̂(t) = (1/N)·Σ_n e^{i t x_n}; the loss is its mean over the V·K (group, slice) pairs;
  - dZ is the derivative of that loss written out from the complex form,
    ∂stat/∂x_n = Σ_i W_i φ_i·2·Re(conj(φ̂_i − φ_i)·i t_i e^{i t_i x_n}), then through x = Z·A; and
    it is checked against mpmath's own numerical derivative of the loss.

  python3 tools/independent_oracle.py > tests/independent_values.hpp
"""

import random
import struct
import sys

import mpmath as mp

mp.mp.dps = 40


def f32(x):
    """x rounded to the nearest float32, as a Python float (exact)."""
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def normal_cf(t):
    """E[cos(tX)], X ~ N(0, 1), by quadrature (E[sin(tX)] = 0 by symmetry)."""
    t = mp.mpf(t)
    val = mp.quad(lambda x: mp.cos(t * x) * mp.exp(-x * x / 2), [-mp.inf, 0, mp.inf])
    val /= mp.sqrt(2 * mp.pi)
    assert abs(val - mp.exp(-t * t / 2)) < mp.mpf(10) ** -30, (t, val)
    return val


def grid(M, t_max, rule):
    """Nodes and weights of the composite rule on [−t_max, t_max] with step Δ = t_max/(M − 1)."""
    delta = mp.mpf(t_max) / (M - 1)
    L = 2 * (M - 1)  # intervals
    nodes = [(i - (M - 1)) * delta for i in range(L + 1)]
    if rule == "trapezoid":
        weights = [delta * (mp.mpf(1) / 2 if i in (0, L) else 1) for i in range(L + 1)]
    else:  # Simpson: L is even
        weights = [delta / 3 * (1 if i in (0, L) else (4 if i % 2 else 2)) for i in range(L + 1)]
    return nodes, weights


def solve(case):
    V, N, D, K, M, t_max, rule = (case[k] for k in ("V", "N", "D", "K", "M", "t_max", "rule"))
    Z = [mp.mpf(z) for z in case["Z"]]
    A = [mp.mpf(a) for a in case["A"]]
    nodes, weights = grid(M, t_max, rule)
    phi = {}
    for t in nodes:
        key = abs(t)
        if key not in phi:
            phi[key] = normal_cf(key)
    knots = [mp.mpf(t_max) / (M - 1) * j for j in range(M)]  # the [0, t_max] half, for the sums

    def projections(Zm, v, k):
        return [mp.fsum(Zm[(v * N + n) * D + d] * A[d * K + k] for d in range(D)) for n in range(N)]

    def stat_of(x):
        total = mp.mpf(0)
        for t, w in zip(nodes, weights):
            ecf = mp.fsum(mp.expj(t * xn) for xn in x) / N
            total += w * abs(ecf - phi[abs(t)]) ** 2 * phi[abs(t)]
        return N * total

    def loss_of(Zm):
        return mp.fsum(stat_of(projections(Zm, v, k)) for v in range(V) for k in range(K)) / (V * K)

    sums, stats, dZ = [], [], [mp.mpf(0)] * (V * N * D)
    for v in range(V):
        for k in range(K):
            x = projections(Z, v, k)
            for t in knots:
                sums.append(mp.fsum(mp.cos(t * xn) for xn in x))
                sums.append(mp.fsum(mp.sin(t * xn) for xn in x))
            stats.append(stat_of(x))
            # ∂stat/∂x_n from the complex form.
            ecfs = [mp.fsum(mp.expj(t * xn) for xn in x) / N for t in nodes]
            for n in range(N):
                g = mp.mpf(0)
                for t, w, e in zip(nodes, weights, ecfs):
                    g += w * phi[abs(t)] * 2 * mp.re(mp.conj(e - phi[abs(t)]) * 1j * t * mp.expj(t * x[n]))
                for d in range(D):
                    i = (v * N + n) * D + d
                    dZ[i] += g * A[d * K + k] / (V * K)
    loss = mp.fsum(stats) / (V * K)
    assert abs(loss - loss_of(Z)) < mp.mpf(10) ** -30
    # The analytic dZ against mpmath's numerical derivative of the loss, element by element.
    for i in range(len(Z)):
        def along(h, i=i):
            Zh = list(Z)
            Zh[i] = Z[i] + h
            return loss_of(Zh)
        numeric = mp.diff(along, 0)
        assert abs(numeric - dZ[i]) < mp.mpf(10) ** -20 * max(1, abs(dZ[i])), (i, numeric, dZ[i])
    return sums, stats, loss, dZ


def make_case(name, V, N, D, K, M, t_max, rule, seed, scale=1.0):
    rng = random.Random(seed)
    Z = [f32(rng.gauss(0.0, scale)) for _ in range(V * N * D)]
    cols = []
    for _ in range(K):
        c = [rng.gauss(0.0, 1.0) for _ in range(D)]
        norm = sum(x * x for x in c) ** 0.5
        cols.append([x / norm for x in c])
    A = [f32(cols[k][d]) for d in range(D) for k in range(K)]  # D×K, row-major
    return dict(name=name, V=V, N=N, D=D, K=K, M=M, t_max=t_max, rule=rule, Z=Z, A=A)


CASES = [
    make_case("V2_trapezoid", 2, 3, 5, 3, 17, 3.0, "trapezoid", 1),
    make_case("V2_simpson", 2, 3, 5, 3, 17, 3.0, "simpson", 2),
    make_case("V2_simpson9_wide", 2, 4, 3, 2, 9, 4.0, "simpson", 3, scale=1.5),
    make_case("V1_N1_K1", 1, 1, 4, 1, 17, 3.0, "trapezoid", 4),
]


def cxx(values):
    return "{" + ", ".join(repr(float(v)) for v in values) + "}"


def cxx_float(values):
    return "{" + ", ".join(repr(float(v)) + "f" for v in values) + "}"


def main():
    out = sys.stdout
    out.write("// Generated by tools/independent_oracle.py (mpmath, 40 digits, from the formulas of\n")
    out.write("// docs/design.md §1 alone: its own knots, quadrature and N(0,1) characteristic\n")
    out.write("// function); do not edit. Regenerate with\n")
    out.write("//   python3 tools/independent_oracle.py > tests/independent_values.hpp\n")
    out.write("// Z and A are float32 values; every other number is the exact result rounded to double.\n")
    out.write("#pragma once\n\n#include <cstdint>\n#include <vector>\n\n")
    out.write("namespace sigreg::test::independent {\n\n")
    out.write("struct OracleCase {\n  const char* name;\n  int64_t V, N, D, K;\n  int M;\n  double t_max;\n")
    out.write("  bool simpson;\n  std::vector<float> Z, A;              // V×N×D, D×K\n")
    out.write("  std::vector<double> sums, stats, dZ;  // V×K×M×2, V×K, V×N×D (g = 1)\n  double loss;\n};\n\n")
    out.write("// clang-format off\n")
    out.write("inline const std::vector<OracleCase>& oracle_cases() {\n  static const std::vector<OracleCase> cases = {\n")
    for case in CASES:
        sums, stats, loss, dZ = solve(case)
        out.write("      {\"%s\", %d, %d, %d, %d, %d, %r, %s,\n" % (
            case["name"], case["V"], case["N"], case["D"], case["K"], case["M"], case["t_max"],
            "true" if case["rule"] == "simpson" else "false"))
        out.write("       %s,\n" % cxx_float(case["Z"]))
        out.write("       %s,\n" % cxx_float(case["A"]))
        out.write("       %s,\n" % cxx(sums))
        out.write("       %s,\n" % cxx(stats))
        out.write("       %s,\n" % cxx(dZ))
        out.write("       %r},\n" % float(loss))
    out.write("  };\n  return cases;\n}\n// clang-format on\n\n}  // namespace sigreg::test::independent\n")


if __name__ == "__main__":
    main()
