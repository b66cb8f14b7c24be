// The driver's figures (SVG, via svg_plot.hpp), written into an output folder:
//   spiral.svg      the clean 2-D spiral coloured by t
//   input_pca.svg   the 50-D input's first two principal components (the "smear")
//   collapsed.svg   the λ = 0 embedding's first two PCs, on its own (tiny) axis scale
//   trained.svg     the SIGReg embedding's first two PCs coloured by t
//   shadows.svg     three random 1-D projections of the SIGReg embedding vs the N(0,1) density
//   ecf.svg         |ECF| of collapsed, healthy and over-spread (×3) clouds vs exp(−t²/2)
//   training.svg    losses, probe R², roundness and spread over training (mean, min–max bars)
//   sweep.svg       the λ × σ × width sweep
#pragma once

#include <string>
#include <vector>

#include "experiment.hpp"

namespace sigreg::toy {

// Figures of the main experiment (clouds from the first seed, curves over all seeds). Returns
// the file names written.
std::vector<std::string> write_main_figures(const std::string& dir,
                                            const std::vector<SeedResult>& results);
std::vector<std::string> write_sweep_figure(const std::string& dir,
                                            const std::vector<SweepCell>& cells);

}  // namespace sigreg::toy
