"""Draft models that disagree with their target in known ways, for positive and negative controls at T > 0.

A speculative sampler's draft is only a proposal: a lossless rule (strict rejection sampling) emits the target's law
whatever the draft, while a wrong rule (``planted_bug: resample_from_target``, typical acceptance) leaks the draft's
shape into the output. A screen is sized against drafts whose disagreement is known, made from the target itself:

- ``noisy`` (:attr:`DraftKind.NOISY`): seeded Gaussian noise of std ``strength`` added to every MLP weight; the draft
  is "merely noisy" (neither sharper nor flatter than the target on average): the acceptance rate of SmolLM2 with std
  0.02 is 0.44-0.48 at k = 4, T = 0.8;
- ``sharper`` / ``flatter`` (:attr:`DraftKind.SHARPER`, :attr:`DraftKind.FLATTER`): the target's logits multiplied by
  ``strength`` (> 1 sharper, < 1 flatter), i.e. the target at temperature ``T / strength``. Done by scaling the
  weight of the final RMSNorm, which scales the hidden state fed to the (bias-free) output head and so the logits
  exactly; scaling ``lm_head`` instead would also scale the input embeddings of a model that ties them (SmolLM2
  does).

:func:`perturb` changes a transformers causal LM in place, :func:`perturbed_copy` returns a perturbed copy of a loaded
model (:class:`tais.engines.hf.loading.LoadedModel`) and :func:`write_draft` saves one as a model folder whose
``file:`` source is an arm's ``draft:``. torch and transformers are imported only inside the functions.

Worked examples on a tiny random Llama (:func:`tiny_llama`, tied embeddings like SmolLM2). ``sharper`` scales the
logits by exactly 1.25, ``flatter`` by 0.8; ``noisy`` leaves the output head alone and moves the logits through the
MLPs (seeded: the same seed gives the same draft)::

    >>> import torch
    >>> model = tiny_llama()
    >>> ids = torch.tensor([[1, 5, 9, 3]])
    >>> base = model(ids).logits
    >>> sharp = perturb(tiny_llama(), DraftRecipe.of("sharper", 1.25))(ids).logits
    >>> bool(torch.allclose(sharp, 1.25 * base, atol=1e-5))
    True
    >>> flat = perturb(tiny_llama(), DraftRecipe.of("flatter", 0.8))(ids).logits
    >>> bool(torch.allclose(flat, 0.8 * base, atol=1e-5))
    True
    >>> noisy = perturb(tiny_llama(), DraftRecipe.of("noisy", 0.5))(ids).logits
    >>> again = perturb(tiny_llama(), DraftRecipe.of("noisy", 0.5))(ids).logits
    >>> bool(torch.allclose(noisy, base, atol=1e-2)), bool(torch.equal(noisy, again))
    (False, True)
    >>> DraftRecipe.of("sharper").name, DraftRecipe.of("noisy").name
    ('sharper-1.25', 'noisy-0.02')
    >>> DraftRecipe.of("flatter", 1.5)
    Traceback (most recent call last):
    ...
    ValueError: draft flatter: strength must lie in (0, 1) (a factor on the logits), got 1.5
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tais.errors import require

if TYPE_CHECKING:
    from tais.engines.hf.loading import LoadedModel


class DraftKind(str, enum.Enum):
    NOISY = "noisy"
    SHARPER = "sharper"
    FLATTER = "flatter"


DEFAULT_STRENGTH = {DraftKind.NOISY: 0.02, DraftKind.SHARPER: 1.25, DraftKind.FLATTER: 0.8}
"""noise std for ``noisy`` (the draft of the T > 0 benchmarks and tests); the logit factor for the other two"""


@dataclasses.dataclass(frozen=True)
class DraftRecipe:
    """How a draft departs from its target: ``kind``, ``strength`` (noise std, or the factor on the logits) and the
    noise ``seed``."""

    kind: DraftKind
    strength: float
    seed: int = 0

    @classmethod
    def of(cls, kind: str | DraftKind, strength: float | None = None, seed: int = 0) -> DraftRecipe:
        """A validated recipe (``strength`` defaults to :data:`DEFAULT_STRENGTH`)."""
        kind = DraftKind(kind)
        value = DEFAULT_STRENGTH[kind] if strength is None else float(strength)
        ok = {DraftKind.NOISY: value > 0, DraftKind.SHARPER: value > 1, DraftKind.FLATTER: 0 < value < 1}[kind]
        if not ok:
            what = {DraftKind.NOISY: "be > 0 (the std of the MLP noise)",
                    DraftKind.SHARPER: "be > 1 (a factor on the logits)",
                    DraftKind.FLATTER: "lie in (0, 1) (a factor on the logits)"}[kind]
            raise ValueError(f"draft {kind.value}: strength must {what}, got {value:g}")
        return cls(kind, value, seed)

    @property
    def name(self) -> str:
        return f"{self.kind.value}-{self.strength:g}"


def perturb(model: Any, recipe: DraftRecipe) -> Any:
    """Apply ``recipe`` to a transformers causal LM in place (its parameters on any device); returns ``model``. The
    MLP noise is drawn on the CPU from one generator seeded ``recipe.seed``, parameter by parameter in
    ``named_parameters`` order, so a draft is the same on every device."""
    torch = require("torch", "hf")
    with torch.no_grad():
        if recipe.kind is DraftKind.NOISY:
            generator = torch.Generator().manual_seed(recipe.seed)
            for name, weight in model.named_parameters():
                if ".mlp." in name:
                    noise = torch.randn(weight.shape, generator=generator) * recipe.strength
                    weight.add_(noise.to(device=weight.device, dtype=weight.dtype))
        else:
            _final_norm(model).weight.mul_(recipe.strength)
    return model


def _final_norm(model: Any) -> Any:
    """The normalisation layer in front of the output head, checked to scale the logits exactly."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else getattr(model, "model", None)
    norm = getattr(decoder, "norm", None)
    if norm is None or getattr(norm, "weight", None) is None:
        raise ValueError(f"{type(model).__name__}: no final norm with a weight to scale the logits by")
    if getattr(model.get_output_embeddings(), "bias", None) is not None:
        raise ValueError(f"{type(model).__name__}: the output head has a bias; scaling the final norm would not "
                         "scale the logits")
    return norm


def perturbed_copy(loaded: LoadedModel, recipe: DraftRecipe) -> LoadedModel:
    """A copy of a loaded target (weights copied, tokenizer and files shared) with ``recipe`` applied."""
    return dataclasses.replace(loaded, model=perturb(copy.deepcopy(loaded.model), recipe))


def write_draft(source: str, folder: Path, recipe: DraftRecipe) -> str:
    """Materialize ``source`` (a model source string), apply ``recipe`` in float32 on the CPU and save it as a model
    folder at ``folder`` (replaced if it exists; tokenizer and chat template copied); returns its ``file:`` source."""
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    from tais.sources.model_files import materialize

    files = materialize(source).path
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(files, folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "tais-source.json"))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(files), dtype=torch.float32)
    perturb(model, recipe).save_pretrained(folder)
    return f"file:{folder}"


def tiny_llama(seed: int = 0, vocab: int = 32) -> Any:
    """A tiny random Llama causal LM (one layer, hidden size 16, tied embeddings, float32, eval mode), for examples
    and fast tests."""
    torch = require("torch", "hf")
    transformers = require("transformers", "hf")
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    return transformers.LlamaForCausalLM(config).eval()
