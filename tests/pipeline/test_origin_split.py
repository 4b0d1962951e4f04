"""The accepted / recovered split of one completion (tais.pipeline.origin_split) from torch log-softmax rows, against
the same sums done independently in numpy on the tempered laws (softmax of logits / T), with the origins choosing
which tokens enter which part; a completion without origins gives zeros."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tais.pipeline.origin_split import origin_split
from tais.types import TARGET_ORIGIN, SamplingParams, round_origins

T = 0.8


def tempered(logits: np.ndarray) -> np.ndarray:
    z = logits / T
    w = np.exp(z - z.max(1, keepdims=True))
    return w / w.sum(1, keepdims=True)


def test_split_against_numpy_sums():
    rng = np.random.default_rng(0)
    n, vocab = 9, 7
    target, draft = rng.normal(size=(n, vocab)) * 2, rng.normal(size=(n, vocab + 2)) * 2  # draft vocab padded
    tokens = rng.integers(0, vocab, size=n).tolist()
    origins = [TARGET_ORIGIN, *round_origins(2, 3), *round_origins(3, 3), *round_origins(0, 3)]  # 1 + 3 + 4 + 1
    rows = [torch.log_softmax(torch.tensor(x, dtype=torch.float32), -1) for x in (target, draft)]
    sampling = SamplingParams(temperature=T)
    split = origin_split(rows[0], rows[1], tokens, origins, sampling, sampling)
    q = tempered(rows[0].numpy().astype(np.float64))
    p = tempered(rows[1].numpy().astype(np.float64)[:, :vocab])  # cut to the target's vocabulary
    h_s, h_r = np.minimum(-np.log(q), 10.0), np.clip(np.log(p) - np.log(q), -10, 10)
    kinds = np.array(origins) % 4
    for t in range(n):
        for h, (acc, rec) in ((h_s, (split.surprisal_accepted, split.surprisal_recovered)),
                              (h_r, (split.ratio_accepted, split.ratio_recovered))):
            if kinds[t] in (1, 2):  # a drafted slot: accepted (1) or recovered (2)
                m, r = np.minimum(p[t], q[t]), np.maximum(q[t] - p[t], 0)
                assert acc.mean[t] == pytest.approx((m * h[t]).sum(), rel=1e-5)
                assert acc.variance[t] == pytest.approx((m * h[t] ** 2).sum() - (m * h[t]).sum() ** 2, rel=1e-4)
                assert rec.mean[t] == pytest.approx((r * h[t]).sum(), rel=1e-5)
                assert acc.observed[t] == pytest.approx(h[t, tokens[t]] if kinds[t] == 1 else 0.0, rel=1e-5)
                assert rec.observed[t] == pytest.approx(h[t, tokens[t]] if kinds[t] == 2 else 0.0, rel=1e-5)
            else:  # target-only and bonus tokens are in neither part
                assert acc.mean[t] == acc.observed[t] == rec.variance[t] == 0
    none = origin_split(rows[0], rows[1], tokens, None, sampling, sampling)
    assert not np.any(none.surprisal_accepted.mean) and len(none.ratio_recovered.observed) == n
