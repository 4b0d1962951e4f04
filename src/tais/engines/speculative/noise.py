"""Counter-based noise for sampling: every random number is a hash of its key, never a draw from a stateful generator.

A key is ``(row seed, absolute position, stream, token id)``: the row seed of one request, the index of the output
token the number serves (0 = the first generated token), a stream that names its use (:class:`Stream`), and, for
Gumbel noise only, the token id. Hence a row's tokens are a function of its seed alone: the same whatever rows share
its batch, in whatever order, and however many verify steps a speculative decoder takes to reach a position.

The hash is MurmurHash3's 32-bit finaliser (``fmix32``) chained over the key's 32-bit words; two lanes give 53 bits,
so a uniform lies strictly inside (0, 1) on the float64 grid ``(m + 0.5) / 2**53``::

    >>> seeds = torch.tensor([7, 7, 8])
    >>> u = uniforms(seeds, torch.tensor([[0, 1], [0, 1], [0, 1]]), Stream.SAMPLE)
    >>> u.shape, bool(u[0, 0] == u[1, 0]), bool(u[0, 0] != u[2, 0]), bool(u[0, 0] != u[0, 1])
    (torch.Size([3, 2]), True, True, True)
    >>> bool(((u > 0) & (u < 1)).all())
    True

The row seed of a request mixes the request's ``seed`` with its item id and replicate (sha256), so that two items of
an arm that share one configured seed still get independent noise; a request without a seed gets a seed derived
from its item id and replicate alone (reproducible, not random)::

    >>> row_seed(1, "t/1", 0) == row_seed(1, "t/1", 0), row_seed(1, "t/1", 0) == row_seed(1, "t/2", 0)
    (True, False)
"""

from __future__ import annotations

import enum
import hashlib

import torch

_MASK = 0xFFFFFFFF


class Stream(enum.IntEnum):
    """What a uniform is used for (one independent stream each)."""

    SAMPLE = 1  # the target's own draw: target-only sampling, a recovered token and a bonus token
    ACCEPT = 2  # the acceptance test of a draft token
    DRAFT = 3  # the draft model's draw of a draft token
    GUMBEL = 4  # seed-coupled Gumbel-max noise, one per token id (shared by target and draft)


def row_seed(seed: int | None, item_id: str, replicate: int) -> int:
    """The 63-bit seed that keys one request's noise (see the module docstring)."""
    text = f"{'' if seed is None else int(seed)}\x1f{item_id}\x1f{int(replicate)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _fmix32(h: torch.Tensor) -> torch.Tensor:
    """MurmurHash3's finaliser on int64 tensors holding 32-bit values (products wrap mod 2**64, then are masked)."""
    h = h ^ (h >> 16)
    h = (h * 0x85EBCA6B) & _MASK
    h = h ^ (h >> 13)
    h = (h * 0xC2B2AE35) & _MASK
    return h ^ (h >> 16)


def _hash(words: list[torch.Tensor], lane: int) -> torch.Tensor:
    h = torch.full((), (0x9E3779B9 * (lane + 1)) & _MASK, dtype=torch.long)
    for w in words:
        h = _fmix32((h ^ (w & _MASK)) + 0x7F4A7C15 & _MASK)
    return h


def _uniform(words: list[torch.Tensor]) -> torch.Tensor:
    hi = _hash(words, 0) >> 5  # 27 bits
    lo = _hash(words, 1) >> 6  # 26 bits
    return ((hi * (1 << 26) + lo).double() + 0.5) / float(1 << 53)


def _key(seeds: torch.Tensor, positions: torch.Tensor, stream: int) -> list[torch.Tensor]:
    seeds = seeds.long().to(positions.device)[:, None]  # [rows, 1]
    return [seeds & _MASK, seeds >> 32, positions.long(), torch.full((), int(stream), dtype=torch.long)]


def uniforms(seeds: torch.Tensor, positions: torch.Tensor, stream: int) -> torch.Tensor:
    """Uniforms in (0, 1), float64 [rows, n], for ``seeds`` [rows] (int64) and ``positions`` [rows, n]."""
    return _uniform(_key(seeds, positions, stream))


def gumbel(seeds: torch.Tensor, positions: torch.Tensor, vocab: int) -> torch.Tensor:
    """Standard Gumbel noise ``-log(-log u)``, float32 [rows, n, vocab], keyed by (seed, position, token id) in the
    ``GUMBEL`` stream, for ``seeds`` [rows] and ``positions`` [rows, n]. ``u`` comes from one 32-bit lane, on the grid
    ``(m + 0.5) / 2**32`` (the noise then lies in (-3.1, 22.2))."""
    words = [w[..., None] if w.dim() else w for w in _key(seeds, positions, Stream.GUMBEL)]  # [rows, n|1, 1]
    token = torch.arange(vocab, dtype=torch.long, device=positions.device)  # [vocab]
    return _gumbel(words + [token])


def gumbel_at(seeds: torch.Tensor, positions: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The noise of :func:`gumbel` at single keys: float32 [m] for ``seeds``, ``positions``, ``tokens`` [m] (so that
    a caller can evaluate it on the tokens its truncation keeps only)."""
    seeds = seeds.long().to(positions.device)
    stream = torch.full((), int(Stream.GUMBEL), dtype=torch.long)
    return _gumbel([seeds & _MASK, seeds >> 32, positions.long(), stream, tokens.long()])


def _gumbel(words: list[torch.Tensor]) -> torch.Tensor:
    u = (_hash(words, 2).double() + 0.5) / float(1 << 32)
    return (-torch.log(-torch.log(u))).float()
