"""The ``quantized`` proposer's draft: an int8 copy of the target (the paper's "quantized draft" arm).

Every ``nn.Linear`` of a float32 copy of the target is replaced by PyTorch's dynamic int8 quantized linear
(``torch.ao.quantization.quantize_dynamic``): weights stored as int8 with a per-tensor scale, activations quantized
on the fly. Embeddings, norms and attention arithmetic stay float32. It runs on CPU only. Each call makes a new copy;
engines alive at the same time share one through :class:`tais.engines.hf.loading.ModelCache` (opt-in).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch


def int8_copy(model: Any) -> Any:
    """A dynamically int8-quantized copy of ``model`` (float32, CPU, eval mode); ``model`` itself is untouched."""
    clone = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(clone, {torch.nn.Linear}, dtype=torch.qint8)
