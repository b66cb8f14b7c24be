"""The machine line of the Python benchmark reports: the GPU's name, or the CPU model (lscpu)
and the thread count."""
import platform
import subprocess

import torch


def machine(device, threads=None):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "CPU"
    return f"{model}, {threads if threads is not None else torch.get_num_threads()} thread(s)"
