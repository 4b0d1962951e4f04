"""Bad input to the hf engine: each case is one InputError (exit code 2) with a one-line message naming the key."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SMOLLM2
from tais.engines.hf.engine import HFEngine
from tais.errors import ConfigError, EngineError, InputError, SourceError
from tais.types import ArmSpec, SamplingParams


def arm(**kw) -> ArmSpec:
    return ArmSpec(**{"name": "a", "backend": "hf", "model": SMOLLM2, **kw})


def expect(exc_type, arm_spec: ArmSpec, *words: str) -> str:
    with pytest.raises(exc_type) as info:
        HFEngine.from_arm(arm_spec)
    message = str(info.value)
    assert isinstance(info.value, InputError) and info.value.exit_code == 2
    assert "\n" not in message and all(w in message for w in words), message
    return message


@pytest.mark.parametrize(
    ("kwargs", "exc_type", "words"),
    [
        ({"speculative": {"proposer": "self", "k": 0}}, ConfigError, ("speculative.k", "greater than or equal to 1")),
        ({"speculative": {"proposer": "self", "k": "4"}}, ConfigError, ("speculative.k", "valid integer", "'4'")),
        ({"speculative": {"proposer": "self", "k": True}}, ConfigError, ("speculative.k", "valid integer", "True")),
        ({"speculative": {"proposer": "medusa"}}, ConfigError, ("speculative.proposer", "medusa")),
        ({"speculative": {"proposer": "self", "acceptance": "lenient"}}, ConfigError, ("speculative.acceptance",)),
        ({"speculative": {"proposer": "self", "kk": 4}}, ConfigError, ("speculative.kk: unknown key; known:",)),
        ({"speculative": {"proposer": "ngram", "ngram": {"min_n": 3, "max_n": 2}}}, ConfigError,
         ("speculative.ngram",)),
        ({"speculative": {"proposer": "self", "acceptance": "typical", "typical": {"epsilon": 0}}}, ConfigError,
         ("speculative.typical.epsilon",)),
        ({"speculative": {"proposer": "ngram", "adversarial": {"bias_against_refusal": 4.0}}}, ConfigError,
         ("speculative.adversarial",)),
        ({"speculative": {"proposer": "draft"}}, ConfigError, ("draft", "needs")),
        ({"dtype": "int4"}, ConfigError, ("dtype", "int4", "float32")),
        ({"device": "tpu"}, ConfigError, ("device", "tpu")),
        ({"options": {"batch_size": 0}}, ConfigError, ("options.batch_size",)),
        ({"options": {"batch_size": True}}, ConfigError, ("options.batch_size", "valid integer", "True")),
        ({"options": {"threads": 2.0}}, ConfigError, ("options.threads", "valid integer")),
        ({"options": {"beams": 2}}, ConfigError, ("options.beams: unknown key; known: batch_size, decoder, threads",)),
        ({"sampling": SamplingParams(temperature=0.7), "options": {"decoder": "static"}}, ConfigError,
         ("options.decoder", "greedily")),
        ({"speculative": {"proposer": "self", "planted_bug": "off_by_two"}}, ConfigError,
         ("speculative.planted_bug", "off_by_two")),
    ],
)
def test_bad_arm_is_one_clear_error(kwargs, exc_type, words):
    expect(exc_type, arm(**kwargs), *words)


def test_cuda_without_a_cuda_device():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    expect(EngineError, arm(device="cuda"), "device", "cuda")


def test_unknown_model_source(tmp_path):
    expect(SourceError, arm(model="nosuchscheme:model"), "nosuchscheme")
    expect(InputError, arm(model=f"file:{tmp_path / 'absent'}"), "absent")
    (tmp_path / "notamodel").mkdir()
    expect(SourceError, arm(model=f"file:{tmp_path / 'notamodel'}"), "config.json")


@pytest.mark.slow
def test_draft_with_another_tokenizer(smollm2, tmp_path):
    other = tmp_path / "other-tokenizer"
    shutil.copytree(smollm2.path, other)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[100:102]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    spec = {"proposer": "draft", "k": 2}
    expect(ConfigError, arm(draft=f"file:{other}", speculative=spec), "draft", "tokenizer")
