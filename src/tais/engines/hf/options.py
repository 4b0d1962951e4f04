"""The ``options`` of an ``hf`` arm (see :mod:`tais.engines.hf.engine` for what the decoders do)::

    options: {batch_size: 8, threads: 2, decoder: auto}

    >>> HFOptions().batch_size, HFOptions().decoder
    (8, 'auto')

A bad value is one :class:`~tais.errors.ConfigError` naming the key (:func:`tais.schema.parse`); no torch needed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tais.schema import StrictModel


class HFOptions(StrictModel):
    """``batch_size``: requests per forward batch; ``threads``: torch intra-op CPU threads (unset: torch's own
    setting); ``decoder``: ``dynamic`` (transformers forward pass), ``static`` (fixed-width KV buffers, CUDA graphs;
    Llama architectures only) or ``auto`` (static on CUDA where it can run the arm, else dynamic)."""

    batch_size: int = Field(8, ge=1)
    threads: int | None = Field(None, ge=1)
    decoder: Literal["auto", "static", "dynamic"] = "auto"
