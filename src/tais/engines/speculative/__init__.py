"""Speculative decoding algorithms for the embedded engine: proposers (draft model, quantized draft, prompt lookup,
self) and acceptance rules (strict, typical)."""
