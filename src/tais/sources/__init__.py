"""Where artifacts come from: source strings (``hf:`` / ``file:`` / ``pypi:``) resolved to local paths pinned by
sha256 (:mod:`.resolve`), and a model source turned into a folder transformers and vLLM load (:mod:`.model_files`).
Below both ``battery`` (data files) and ``engines`` (models)."""
