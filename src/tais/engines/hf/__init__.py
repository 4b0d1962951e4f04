"""The embedded PyTorch / transformers engine (backend ``hf``): batched greedy decoding with a KV cache, and batched
speculative decoding with its proposers (draft model, int8 copy of the target, prompt lookup, self); the acceptance
rules and the ``speculative`` block's settings are backend-free, in :mod:`tais.engines.speculative`. Options are
:class:`tais.engines.hf.options.HFOptions`; loaded weights are freed on ``close()`` unless shared through an opt-in
:class:`tais.engines.hf.loading.ModelCache`."""
