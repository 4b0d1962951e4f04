"""``close()`` releases what the hf engine loaded: after it, nothing in tais keeps the weights alive (weak references
to the model die), and an opt-in ModelCache shares weights only between engines that are alive at the same time.
Each check that something is gone has its positive control: the same reference is alive just before."""

from __future__ import annotations

import gc
import weakref

import pytest

from conftest import SMOLLM2, chat_requests
from tais.engines.hf.engine import HFEngine
from tais.engines.hf.loading import ModelCache
from tais.errors import EngineError
from tais.types import ArmSpec

REQUESTS = chat_requests(["Name a colour.", "Count to three."], max_tokens=3, logprobs=1)


def arm(speculative=None) -> ArmSpec:
    return ArmSpec(name="a", backend="hf", model=SMOLLM2, speculative=speculative or {})


def alive(ref: weakref.ref) -> bool:
    gc.collect()
    return ref() is not None


def test_close_frees_the_model_it_loaded(smollm2):
    engine = HFEngine.from_arm(arm())
    engine.generate_batch(REQUESTS)
    model = weakref.ref(engine.target.model)
    assert alive(model)  # positive control: the engine holds it
    engine.close()
    assert not alive(model)
    engine.close()  # idempotent
    with pytest.raises(EngineError, match="closed"):
        engine.generate_batch(REQUESTS)


def test_a_model_cache_shares_weights_between_live_engines_and_keeps_none_after_they_close(smollm2):
    models = ModelCache()
    quantized = HFEngine.from_arm(arm({"proposer": "quantized", "k": 2}), models=models)
    reference = HFEngine.from_arm(arm(), models=models)
    assert quantized.target is reference.target and len(models) == 1  # loaded once
    quantized.generate_batch(REQUESTS)
    int8 = weakref.ref(quantized._proposer().model)
    assert int8() is not quantized.target.model and models.int8_copy(quantized.target) is int8()  # made once
    model = weakref.ref(reference.target.model)

    quantized.close()
    assert not alive(int8)  # only the closed engine used the int8 copy
    assert alive(model)  # positive control: the reference engine still holds the shared weights
    reference.generate_batch(REQUESTS)
    reference.close()
    assert not alive(model) and len(models) == 0  # the cache alone keeps nothing
    again = HFEngine.from_arm(arm(), models=models)
    assert len(models) == 1 and again.target.model is not None
    again.close()
