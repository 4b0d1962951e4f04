"""The ``quantized`` proposer's draft: an int8 copy of the target (the paper's "quantized draft" arm).

Every ``nn.Linear`` of a float32 copy of the target is replaced by PyTorch's dynamic int8 quantized linear
(``torch.ao.quantization.quantize_dynamic``): weights stored as int8 with a per-tensor scale, activations quantized
on the fly. Embeddings, norms and attention arithmetic stay float32. It runs on CPU only. The copy is made once per
target model object and kept for the life of the process.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch

_COPIES: dict[int, Any] = {}


def int8_copy(model: Any) -> Any:
    """A dynamically int8-quantized copy of ``model`` (float32, CPU, eval mode); ``model`` itself is untouched."""
    key = id(model)
    if key not in _COPIES:
        clone = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            _COPIES[key] = quantize_dynamic(clone, {torch.nn.Linear}, dtype=torch.qint8)
    return _COPIES[key]
