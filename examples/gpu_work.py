"""The GPU side of the gpu-batch example: what a Ray worker runs.

Plain Python with no durasumi import, so a Ray cluster's nodes need only this module (in
their image, or shipped in the task's runtime_env), not durasumi. It uses PyTorch on the
GPU Ray assigned (CUDA_VISIBLE_DEVICES) when PyTorch is installed, plain Python otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any


def score(start: int, count: int, work_seconds: float = 0.0) -> dict[str, Any]:
    """Sum of squares of the items ``start .. start+count-1``, and where it ran."""
    device = _device()
    if device.startswith("cuda:"):
        import torch

        items = torch.arange(start, start + count, dtype=torch.float64, device="cuda")
        total = int(items.pow(2).sum().item())
    else:
        total = sum(i * i for i in range(start, start + count))
    if work_seconds:
        time.sleep(work_seconds)  # stands in for a real model's inference time
    return {"start": start, "count": count, "sum": total, "device": device}


def _device() -> str:
    """'cuda:<name>' with PyTorch on a GPU, 'gpu:<name>' with a GPU but no PyTorch, or 'cpu'."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    if os.environ.get("CUDA_VISIBLE_DEVICES") and shutil.which("nvidia-smi"):
        query = [
            "nvidia-smi",
            "--query-gpu=name",
            "--format=csv,noheader",
            "-i",
            os.environ["CUDA_VISIBLE_DEVICES"].split(",")[0],
        ]
        found = subprocess.run(query, capture_output=True, text=True, timeout=30)
        if found.returncode == 0 and found.stdout.strip():
            return f"gpu:{found.stdout.strip().splitlines()[0]}"
    return "cpu"
