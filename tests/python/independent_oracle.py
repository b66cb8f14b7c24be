"""An mpmath oracle for SIGReg that shares nothing with the package but the definition.

From the Epps–Pulley integral itself, for the samples x_1 … x_N of one group on one direction:

    stat = N · ∫_{−T}^{T} |φ̂_N(t) − ψ(t)|² ψ(t) dt,   φ̂_N(t) = (1/N) Σ_n e^{i t x_n},

with ψ the characteristic function of N(0, 1), here computed as the integral
ψ(t) = ∫ cos(t x) e^{−x²/2} dx / √(2π) (mpmath.quad; not the closed form), and the integral
replaced by a composite rule on the whole symmetric grid t = −T, …, T of 2M − 1 equally spaced
knots (trapezoid, or Simpson with weights h/3·(1, 4, 2, …, 4, 1)) — not the package's half-line
rule, knot table or finalize. loss = mean over groups and directions. The gradient is numerical
differentiation of this loss (mpmath.diff, in high precision), not a formula.

Every number is an mpmath mpf; inputs are taken at their exact binary values.
"""
import mpmath

mp = mpmath.mp


def characteristic_function(t):
    """ψ(t) of N(0, 1) by quadrature of its definition."""
    t = mp.mpf(t)
    density = lambda x: mpmath.exp(-x * x / 2) / mpmath.sqrt(2 * mp.pi)  # noqa: E731
    return mpmath.quad(lambda x: mpmath.cos(t * x) * density(x), [-mpmath.inf, 0, mpmath.inf])


def symmetric_rule(knots, t_max, quadrature):
    """(t, q, ψ(t)) on the 2·knots − 1 points −t_max … t_max of the composite rule."""
    h = mp.mpf(t_max) / (knots - 1)
    count = 2 * knots - 1
    t = [(i - (knots - 1)) * h for i in range(count)]
    if quadrature == "trapezoid":
        q = [h / 2 if i in (0, count - 1) else h for i in range(count)]
    elif quadrature == "simpson":
        assert (count - 1) % 2 == 0
        q = [h / 3 * (1 if i in (0, count - 1) else 4 if i % 2 else 2) for i in range(count)]
    else:
        raise ValueError(quadrature)
    half = [characteristic_function(x) for x in t[knots - 1:]]  # ψ is even (cos is)
    return t, q, half[:0:-1] + half


def half_line_weights(knots, t_max, quadrature):
    """The weights of the knots t_j = j·t_max/(knots − 1), j ≥ 0, that the symmetric rule gives an
    even integrand times the window: (q(t_j) + q(−t_j))·ψ(t_j) (once at t = 0). What LeJEPA's
    `weights` buffer holds."""
    t, q, psi = symmetric_rule(knots, t_max, quadrature)
    zero = knots - 1
    return [q[zero] * psi[zero]] + [(q[zero + j] + q[zero - j]) * psi[zero + j]
                                    for j in range(1, knots)]


class Oracle:
    """stats, loss and gradient of SIGReg for z (V lists of N lists of D floats) and A (D lists of
    K floats), in mpmath at `dps` digits."""

    def __init__(self, z, A, knots, t_max, quadrature, dps=30):
        mp.dps = dps
        self.z = [[[mp.mpf(float(x)) for x in row] for row in group] for group in z]
        self.A = [[mp.mpf(float(x)) for x in row] for row in A]
        self.V, self.N, self.D, self.K = len(z), len(z[0]), len(self.A), len(self.A[0])
        self.rule = symmetric_rule(knots, t_max, quadrature)

    def _stat(self, group, k):
        t, q, psi = self.rule
        x = [mpmath.fsum(row[d] * self.A[d][k] for d in range(self.D)) for row in group]
        total = 0
        for tj, qj, pj in zip(t, q, psi):
            ecf = mpmath.fsum(mpmath.expj(tj * xn) for xn in x) / self.N
            total += qj * abs(ecf - pj) ** 2 * pj
        return self.N * total

    def stats(self):
        return [[self._stat(group, k) for k in range(self.K)] for group in self.z]

    def loss(self):
        return mpmath.fsum(mpmath.fsum(row) for row in self.stats()) / (self.V * self.K)

    def gradient(self):
        """∂loss/∂z[v][n][d] by mpmath.diff of the loss (only group v's stats depend on it)."""
        out = []
        for v, group in enumerate(self.z):
            rows = []
            for n in range(self.N):
                row = []
                for d in range(self.D):
                    def loss_of(h, v=v, n=n, d=d):
                        moved = [list(r) for r in group]
                        moved[n][d] = moved[n][d] + h
                        return mpmath.fsum(self._stat(moved, k) for k in range(self.K))
                    row.append(mpmath.diff(loss_of, 0) / (self.V * self.K))
                rows.append(row)
            out.append(rows)
        return out
