#!/usr/bin/env python3
"""Rewrites a .cu file's launches `kernel<<<grid, block, smem, stream>>>(args)` as
`emulate_launch(kernel, grid, block, smem, stream, args)` so that g++ can compile it against
fake/cuda_runtime.h. Usage: to_host.py IN.cu OUT.cpp. (The grid cap of the grid-stride loops is
set at compile time: -DSIGREG_KERNEL_MAX_BLOCKS=N, kernels/launch.cuh.)"""
import sys

source = open(sys.argv[1]).read()
out, i = [], 0
while True:
    j = source.find("<<<", i)
    if j < 0:
        out.append(source[i:])
        break
    k = j
    while k > 0 and source[k - 1].isspace():  # a formatter may break the line before <<<
        k -= 1
    while k > 0 and (source[k - 1].isalnum() or source[k - 1] in "_<>:"):
        k -= 1
    end = source.find(">>>(", j)
    if end < 0:
        sys.exit("%s: the launch at line %d has no closing '>>>('" % (
            sys.argv[1], source.count("\n", 0, j) + 1))
    out.append(source[i:k])
    out.append("emulate_launch(%s, %s, " % (source[k:j], source[j + 3:end]))
    i = end + 4
open(sys.argv[2], "w").write("".join(out))
