"""How float32 math runs on the cell's device, set at the start of every cell and recorded with it.

On a GPU: cuDNN picks its fastest convolution algorithms for the shapes it sees (`cudnn.benchmark`),
and float32 matmuls and convolutions run on TF32 tensor cores (10-bit mantissa inputs, float32
accumulation; `set_float32_matmul_precision("high")`). Both change the arithmetic (TF32 rounds inputs;
autotuned algorithms sum in other orders), so they are recorded in result.json's training record, and
two results trained differently can be told apart. On a CPU the defaults are set back (full float32,
no autotuning), so a process that ran a GPU cell before leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

import torch


def set_device_numerics(device: torch.device) -> dict[str, Any]:
    """Set the float32 settings for `device`; what result.json records about them."""
    fast = device.type == "cuda"
    torch.backends.cudnn.benchmark = fast
    torch.backends.cuda.matmul.allow_tf32 = fast
    torch.backends.cudnn.allow_tf32 = True  # torch's default; it acts on GPU convolutions only
    torch.set_float32_matmul_precision("high" if fast else "highest")
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_conv": torch.backends.cudnn.allow_tf32 if fast else False,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
