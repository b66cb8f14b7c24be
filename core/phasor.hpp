// The complex-rotation recurrence of docs/design.md §5, shared by the CUDA kernels (and usable by
// the CPU fast path): because the knots are equally spaced, t_j = j·Δ, the pair (cos t_j p, sin t_j
// p) for the next knot is the current pair rotated by (cos Δp, sin Δp):
//   cos((j+1)θ) + i·sin((j+1)θ) = (cos jθ + i·sin jθ)(cos θ + i·sin θ),   θ = Δ·p.
// Four multiply-adds per knot instead of one sincos. The recurrence drifts by about one float
// rounding per step, so every kAnchorKnots knots the pair is re-anchored with a fresh sincos of
// t_j·p; forward and backward anchor at the same knots so they see the same cosines.
#pragma once

#include "core/math.hpp"

namespace sigreg::math {

// Knots between fresh sincos anchors: j = 0 (the pair (1, 0), free), 32, 64, …
constexpr int kAnchorKnots = 32;

// (cos, sin) of one angle, in float.
struct Phasor {
  float c, s;
};

// Advances `x` by the rotation `step`: x ← x·step as complex numbers.
SIGREG_HD void rotate(Phasor& x, Phasor step) {
  const float c = x.c * step.c - x.s * step.s;
  const float s = x.s * step.c + x.c * step.s;
  x.c = c;
  x.s = s;
}

}  // namespace sigreg::math
