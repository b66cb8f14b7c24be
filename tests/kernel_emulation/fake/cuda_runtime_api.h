// The emulation's stand-in for the CUDA runtime API header (CuTe's debug macros include it).
#pragma once
#include "cuda_runtime.h"
