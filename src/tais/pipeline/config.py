"""The screen config: a YAML file validated with pydantic, with errors that name the file and the key path.

A config names the battery, the arms (exactly one ``reference``, any number of ``candidate`` arms, optional ``null``
A/A arms), default sampling, thresholds and replicates::

    name: my-screen
    battery:
      - {benchmark: smoke}
    sampling: {max_tokens: 64, logprobs: 5}
    arms:
      - {name: reference, role: reference, backend: hf, model: "pypi:...gguf"}
      - name: spec-ngram
        backend: hf
        model: "pypi:...gguf"
        speculative: {proposer: ngram, k: 4, acceptance: strict}
    thresholds: {margin: 0.03, alpha: 0.05, h_cutoff: 0.1, tau: 0.1}

Every error is one line, e.g. ``screen.yaml: arms[2].speculative.k: Input should be greater than or equal to 1``
(raised as :class:`tais.errors.ConfigError`, exit code 2; formatted by :mod:`tais.schema`). An arm's ``options``
are validated by its backend's options model (:data:`tais.engines.OPTIONS`) and an ``hf`` arm's ``speculative``
block by :class:`tais.engines.speculative.config.SpeculativeModel`: the same models the engines use, so the errors
read the same, here with the file and the arm's key path. ``docs/config.md`` documents every key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tais.engines import BACKENDS, options_model
from tais.engines.speculative.config import SpeculativeModel
from tais.errors import ConfigError, InputError
from tais.pipeline.sweep import expand_sweep, set_key
from tais.schema import config_error, key_path, parse
from tais.types import ArmSpec, Role, SamplingParams

ARM_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingModel(_Strict):
    """Sampling for every request of an arm (temperature 0: greedy; see :class:`tais.types.SamplingParams`)."""

    temperature: float = Field(0.0, ge=0.0)
    max_tokens: int = Field(64, ge=1)
    logprobs: int | None = Field(5, ge=0)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0)
    sampler: Literal["inverse-cdf", "gumbel"] = "inverse-cdf"


class PartialSamplingModel(_Strict):
    """An arm's sampling override: only the keys it sets replace the config's default ``sampling``."""

    temperature: float | None = Field(None, ge=0.0)
    max_tokens: int | None = Field(None, ge=1)
    logprobs: int | None = Field(None, ge=0)
    stop: list[str] | None = None
    seed: int | None = None
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    sampler: Literal["inverse-cdf", "gumbel"] | None = None


class ResourcesModel(_Strict):
    """What one arm's worker needs from a Ray cluster (``executor: ray``); ignored by the local executor and never
    part of the fingerprint. ``custom``: the cluster's custom resources, e.g. ``{a100: 1}``."""

    gpus: float = Field(0.0, ge=0.0)
    cpus: float = Field(1.0, ge=0.0)
    custom: dict[str, float] = Field(default_factory=dict)


class RayModel(_Strict):
    """``executor: {ray: {...}}``: where the cluster is and how often a lost worker's shard is retried."""

    address: str = Field("auto", min_length=1)
    """``auto`` (a running cluster), ``local`` (start one in this process), ``HOST:PORT`` or ``ray://HOST:PORT``"""
    max_retries: int = Field(3, ge=0)
    shard_size: int = Field(64, ge=1)


class ExecutorModel(_Strict):
    """``executor:`` ``local`` (the default: every arm in this process, one after the other) or ``{ray: {...}}``."""

    ray: RayModel | None = None

    @property
    def kind(self) -> str:
        return "local" if self.ray is None else "ray"


class SweepModel(_Strict):
    """``sweep:``: one arm ``template`` expanded over a ``grid`` of dotted keys (see :mod:`tais.pipeline.sweep`)."""

    template: dict[str, Any]
    grid: dict[str, list[Any]] = Field(min_length=1)


class ArmModel(_Strict):
    """One arm of the config; becomes an :class:`tais.types.ArmSpec`."""

    name: str = Field(pattern=ARM_NAME_PATTERN)
    role: Role = Role.CANDIDATE
    backend: str
    model: str = Field(min_length=1)
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    device: str = "cpu"
    draft: str | None = None
    speculative: dict[str, Any] = Field(default_factory=dict)
    sampling: PartialSamplingModel | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    order: Literal["as-listed", "shuffled"] = "as-listed"
    order_seed: int = 0
    resources: ResourcesModel = Field(default_factory=lambda: ResourcesModel())

    @field_validator("role", mode="before")
    @classmethod
    def _yaml_null_is_the_null_role(cls, value: Any) -> Any:
        # YAML reads an unquoted `role: null` as None; it can only mean the A/A null role here
        return "null" if value is None else value

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; known: {', '.join(sorted(BACKENDS))}")
        return value


class ThresholdsModel(_Strict):
    margin: float = Field(0.03, gt=0.0, lt=1.0)
    alpha: float = Field(0.05, gt=0.0, lt=0.5)
    h_cutoff: float = Field(0.1, gt=0.0)
    tau: float = Field(0.1, gt=0.0)  # the bounds of tais.types.Thresholds, so a valid config never fails later
    power: float = Field(0.8, gt=0.0, lt=1.0)


class SampledModel(_Strict):
    """The screen at temperature > 0 (:mod:`tais.pipeline.sampled`): the equivalence margins of the tempering theta
    and of the draft tilt lambda, the hard-leak tolerances, and how many of the reference's most likely tokens each
    law keeps (the rest as one tail mass)."""

    theta_margin: float = Field(0.02, gt=0.0, lt=1.0)
    #: equivalence margin of the draft tilt lambda (tais.stats.draft_tilt; docs/design.md "Temperature > 0")
    draft_margin: float = Field(0.05, gt=0.0, lt=1.0)
    tau_p: float = Field(0.02, ge=0.0, lt=1.0)
    tau_logit: float = Field(1.0, ge=0.0)
    top: int = Field(256, ge=2)


class ScreenConfigModel(_Strict):
    """The whole config file."""

    name: str = Field("screen", pattern=ARM_NAME_PATTERN)
    battery: list[dict[str, Any]] = Field(min_length=1)
    arms: list[ArmModel] = Field(min_length=1)  # with the sweep's arms, at least 2 (checked after expansion)
    sampling: SamplingModel = Field(default_factory=SamplingModel)
    thresholds: ThresholdsModel = Field(default_factory=ThresholdsModel)
    replicates: int = Field(1, ge=1)
    scorers: dict[str, str] = Field(default_factory=dict)
    #: second scorer of the verdict-robustness check (:mod:`tais.screen.robustness`)
    robustness_scorer: Literal["auto", "none", "refusal-hybrid", "refusal-rules", "xstest-strmatch"] = "auto"
    judge: ArmModel | None = None
    out: str | None = None
    executor: ExecutorModel = Field(default_factory=ExecutorModel)
    sweep: SweepModel | None = None

    @field_validator("executor", mode="before")
    @classmethod
    def _executor_word(cls, value: Any) -> Any:
        if value == "local":
            return {}
        if value == "ray":
            return {"ray": {}}
        if isinstance(value, Mapping) and "ray" in value and value["ray"] is None:
            return {"ray": {}}
        return value

    #: the re-scoring phase of teacher-forced token evidence (:mod:`tais.pipeline.token_evidence`): ``auto`` runs it
    #: (an arm whose backend cannot teacher-force degrades to the one-sided rule), ``off`` skips it
    token_evidence: Literal["auto", "off"] = "auto"

    @field_validator("token_evidence", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``off`` as false (and ``on`` as true)."""
        return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value

    sampled: SampledModel = Field(default_factory=SampledModel)



@dataclass(frozen=True)
class ArmSetup:
    """An arm as the pipeline runs it: its spec plus the request order (``as-listed`` or ``shuffled`` with a seed)."""

    spec: ArmSpec
    order: str = "as-listed"
    order_seed: int = 0
    resources: ResourcesModel | None = None
    """what the arm's worker asks a Ray cluster for (``executor: ray``); not part of the fingerprint"""


@dataclass(frozen=True)
class ScreenConfig:
    """A validated config and where it came from (its text and sha256 go into the run manifest)."""

    model: ScreenConfigModel
    path: Path
    text: str
    sha256: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def arms(self) -> list[ArmSetup]:
        return [arm_setup(arm, self.model.sampling) for arm in self.model.arms]

    @property
    def reference(self) -> ArmSetup:
        return next(a for a in self.arms if a.spec.role is Role.REFERENCE)

    def out_dir(self, override: Path | None = None) -> Path:
        """The run directory: ``--out`` if given, else the config's ``out`` (relative to the config file), else
        ``runs/<name>`` beside the config file."""
        if override is not None:
            return Path(override)
        if self.model.out:
            return self.base_dir / self.model.out
        return self.base_dir / "runs" / self.model.name


def arm_setup(arm: ArmModel, default_sampling: SamplingModel) -> ArmSetup:
    sampling = default_sampling.model_dump()
    if arm.sampling is not None:
        sampling.update(arm.sampling.model_dump(exclude_unset=True))
    spec = ArmSpec(
        name=arm.name,
        backend=arm.backend,
        model=arm.model,
        role=arm.role,
        dtype=arm.dtype,
        device=arm.device,
        draft=arm.draft,
        speculative=dict(arm.speculative),
        sampling=SamplingParams.from_dict(sampling),
        options=dict(arm.options),
    )
    return ArmSetup(spec=spec, order=arm.order, order_seed=arm.order_seed, resources=arm.resources)


def _validate_across_keys(model: ScreenConfigModel, path: Path) -> None:
    """Checks that span keys: one reference arm, unique arm names, and what depends on the arm's backend: its
    ``options`` and the ``hf`` speculative block."""
    refs = [i for i, arm in enumerate(model.arms) if arm.role is Role.REFERENCE]
    if len(refs) != 1:
        found = f"found {len(refs)}" + (": " + ", ".join(f"arms[{i}]" for i in refs) if refs else "")
        raise ConfigError(f"exactly one arm must have role: reference ({found})", path=str(path), key="arms")
    seen: dict[str, int] = {}
    for i, arm in enumerate(model.arms):
        if arm.name in seen:
            raise ConfigError(f"{arm.name!r} is already the name of arms[{seen[arm.name]}]", path=str(path),
                              key=f"arms[{i}].name")
        seen[arm.name] = i
    arms: list[tuple[str, int | None, ArmModel]] = [("arms", i, arm) for i, arm in enumerate(model.arms)]
    if model.judge is not None:
        arms.append(("judge", None, model.judge))
    for field, index, arm in arms:
        _validate_arm(arm, (field,) if index is None else (field, index), path)


def _validate_arm(arm: ArmModel, loc: tuple[Any, ...], path: Path) -> None:
    """What depends on an arm's backend: its ``options`` and the ``hf`` speculative block."""
    parse(options_model(arm.backend), arm.options, key=key_path(loc + ("options",)), path=str(path))
    if arm.backend == "hf" and arm.speculative:
        spec = parse(SpeculativeModel, arm.speculative, key=key_path(loc + ("speculative",)), path=str(path))
        if spec.proposer == "draft" and not arm.draft:
            raise ConfigError("proposer 'draft' needs the arm's draft: <source>", path=str(path),
                              key=key_path(loc + ("speculative", "proposer")))


_NOT_SWEPT = ("name", "role")


def _swept_arms(model: ScreenConfigModel, path: Path) -> list[ArmModel]:
    """The arms of the config's ``sweep:`` (none without one), each validated like a listed arm; an error names the
    template key or the grid key whose value is at fault."""
    sweep = model.sweep
    if sweep is None:
        return []
    where = str(path)
    template = _sweep_arm(dict(sweep.template), "sweep.template", where)
    if template.role is not Role.CANDIDATE:
        raise ConfigError(f"a sweep's arms are candidates; the template says role: {template.role}", path=where,
                          key="sweep.template.role")
    for key, values in sweep.grid.items():
        grid_key = f"sweep.grid.{key}"
        if key.split(".", 1)[0] not in ArmModel.model_fields or key.split(".", 1)[0] in _NOT_SWEPT:
            known = sorted(k for k in ArmModel.model_fields if k not in _NOT_SWEPT)
            raise ConfigError(f"not an arm key that a sweep can vary; known: {', '.join(known)}", path=where,
                              key=grid_key)
        if not values:
            raise ConfigError("needs at least one value", path=where, key=grid_key)
        for value in values:
            try:
                _sweep_arm(set_key(dict(sweep.template), key, value), "sweep.template", where)
            except (ConfigError, ValueError) as exc:
                message = exc.message if isinstance(exc, ConfigError) else str(exc)
                raise ConfigError(f"value {value!r}: {message}", path=where, key=grid_key) from None
    listed = {arm.name for arm in model.arms}
    out = []
    for swept in expand_sweep(sweep.template, sweep.grid):
        if swept.name in listed:
            raise ConfigError(f"the grid point {dict(swept.point)} is named {swept.name!r}, which is already the name "
                              f"of another arm", path=where, key="sweep.grid")
        listed.add(swept.name)
        try:
            out.append(_sweep_arm(swept.arm, "sweep.template", where))
        except ConfigError as exc:
            raise ConfigError(f"the grid point {swept.name}: {exc.message}", path=where, key="sweep.grid") from None
    return out


def _sweep_arm(data: dict[str, Any], key: str, where: str) -> ArmModel:
    data.setdefault("role", "candidate")
    arm = parse(ArmModel, data, key=key, path=where)
    _validate_arm(arm, tuple(key.split(".")), Path(where))
    return arm


def parse_config(text: str, path: Path) -> ScreenConfigModel:
    """Parse and validate config text (``path`` only names the file in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(f"not valid YAML: {exc.problem}", path=str(path),
                          line=None if mark is None else mark.line + 1) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=str(path)) from None
    if not isinstance(data, Mapping):
        raise ConfigError("the config must be a YAML mapping (battery:, arms:, ...)", path=str(path))
    try:
        model = ScreenConfigModel.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, ScreenConfigModel, path=str(path)) from None
    _validate_across_keys(model, path)
    swept = _swept_arms(model, path)
    if len(model.arms) + len(swept) < 2:
        raise ConfigError("List should have at least 2 items after validation, not 1 (a reference and a candidate, "
                          "listed or from sweep:)", path=str(path), key="arms")
    return model.model_copy(update={"arms": [*model.arms, *swept]}) if swept else model


def load_config(path: Path | str) -> ScreenConfig:
    """Read and validate a config file; raises :class:`ConfigError` / :class:`InputError` naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such config file", path=str(path))
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    model = parse_config(text, path)
    return ScreenConfig(model=model, path=path.resolve(), text=text, sha256=hashlib.sha256(raw).hexdigest())
