"""Where artifacts come from: source strings (``hf:`` / ``file:`` / ``pypi:``) resolved to local paths pinned by
sha256 (:mod:`.resolve`), and a model source turned into a folder transformers and vLLM load (:mod:`.model_files`).
Both give one typed result, :class:`~tais.sources.resolve.Resolved` (``source``, ``path``, ``sha256``). Below both
``battery`` (data files) and ``engines`` (models)."""
