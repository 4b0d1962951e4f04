"""The embedded PyTorch / transformers engine (backend ``hf``): batched greedy decoding with a KV cache, and batched
speculative decoding (proposers and acceptance rules in :mod:`tais.engines.speculative`)."""
