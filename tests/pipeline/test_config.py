"""Config validation: every bad input is one line naming the file and the key path."""

from __future__ import annotations

import textwrap

import pytest

from tais.errors import ConfigError, InputError
from tais.pipeline.config import load_config
from tais.pipeline.demo import demo_config_text
from tais.pipeline.example_config import EXAMPLE_CONFIG

GOOD = """\
name: t
battery: [{benchmark: smoke, limit: 3}]
sampling: {max_tokens: 16}
arms:
  - {name: reference, role: reference, backend: mock, model: mock}
  - {name: cand, backend: mock, model: mock, sampling: {max_tokens: 8}}
"""


def _write(tmp_path, text, name="screen.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_config_gives_arm_specs_with_merged_sampling(tmp_path):
    config = load_config(_write(tmp_path, GOOD))
    ref, cand = config.arms
    assert ref.spec.role == "reference" and cand.spec.role == "candidate"
    assert ref.spec.sampling.max_tokens == 16 and cand.spec.sampling.max_tokens == 8
    assert cand.spec.sampling.logprobs == 5  # the default survives a partial override
    assert config.model.thresholds.margin == 0.03 and config.model.thresholds.tau == 0.1
    assert config.out_dir() == tmp_path / "runs" / "t"
    assert len(config.sha256) == 64


BAD = [
    ("unknown top-level key", GOOD + "colour: blue\n", "colour: unknown key"),
    ("unknown arm key", GOOD.replace("model: mock, sampling", "model: mock, temprature: 0, sampling"),
     "arms[1].temprature: unknown key"),
    ("wrong type", GOOD.replace("max_tokens: 16", "max_tokens: lots"),
     "sampling.max_tokens: Input should be a valid integer"),
    ("missing reference", GOOD.replace("role: reference, ", ""),
     "arms: exactly one arm must have role: reference (found 0)"),
    ("two references", GOOD.replace("{name: cand, ", "{name: cand, role: reference, "),
     "arms: exactly one arm must have role: reference (found 2: arms[0], arms[1])"),
    ("unknown backend", GOOD.replace("{name: cand, backend: mock", "{name: cand, backend: tgi"),
     "arms[1].backend: unknown backend 'tgi'"),
    ("duplicate names", GOOD.replace("name: cand", "name: reference"),
     "arms[1].name: 'reference' is already the name of arms[0]"),
    ("missing key", GOOD.replace("model: mock, sampling", "sampling"), "arms[1].model: required key is missing"),
    ("hf speculative k", GOOD.replace("{name: cand, backend: mock, model: mock",
                                      "{name: cand, backend: hf, model: m, speculative: {proposer: ngram, k: 0}"),
     "arms[1].speculative.k: Input should be greater than or equal to 1"),
    ("hf speculative proposer", GOOD.replace("{name: cand, backend: mock, model: mock",
                                             "{name: cand, backend: hf, model: m, speculative: {proposer: medusa}"),
     "arms[1].speculative.proposer: Input should be 'draft', 'quantized', 'ngram' or 'self'"),
    ("draft proposer without draft", GOOD.replace("{name: cand, backend: mock, model: mock",
                                                  "{name: cand, backend: hf, model: m, speculative: {proposer: draft}"),
     "arms[1].speculative.proposer: proposer 'draft' needs the arm's draft"),
    ("threshold range", GOOD + "thresholds: {margin: 2}\n", "thresholds.margin: Input should be less than 1"),
    ("hf option type", GOOD.replace("{name: cand, backend: mock, model: mock",
                                    "{name: cand, backend: hf, model: m, options: {batch_size: true}"),
     "arms[1].options.batch_size: Input should be a valid integer (got True)"),
    ("hf option value", GOOD.replace("{name: cand, backend: mock, model: mock",
                                     "{name: cand, backend: hf, model: m, options: {decoder: fast}"),
     "arms[1].options.decoder: Input should be 'auto', 'static' or 'dynamic' (got 'fast')"),
    ("hf option unknown", GOOD.replace("{name: cand, backend: mock, model: mock",
                                       "{name: cand, backend: hf, model: m, options: {beams: 2}"),
     "arms[1].options.beams: unknown key; known: batch_size, decoder, threads"),
    ("hf speculative nested", GOOD.replace("{name: cand, backend: mock, model: mock",
                                           "{name: cand, backend: hf, model: m, speculative: {proposer: ngram, "
                                           "ngram: {min_n: 3, max_n: 2}}"),
     "arms[1].speculative.ngram: min_n 3 is above max_n 2"),
    ("hf adversarial without a model proposer", GOOD.replace(
        "{name: cand, backend: mock, model: mock",
        "{name: cand, backend: hf, model: m, speculative: {proposer: ngram, adversarial: {system_prompt: x}}"),
     "arms[1].speculative.adversarial: needs a model proposer (draft, quantized, self), not 'ngram'"),
    ("openai option", GOOD.replace("{name: cand, backend: mock, model: mock",
                                   "{name: cand, backend: openai, model: m, options: {base_url: 'http://h', "
                                   "concurrency: 0}"),
     "arms[1].options.concurrency: Input should be greater than or equal to 1 (got 0)"),
    ("openai base_url missing", GOOD.replace("{name: cand, backend: mock, model: mock",
                                             "{name: cand, backend: openai, model: m"),
     "arms[1].options.base_url: required key is missing"),
    ("vllm reserved engine arg", GOOD.replace("{name: cand, backend: mock, model: mock",
                                              "{name: cand, backend: vllm, model: m, options: {dtype: float16}"),
     "arms[1].options.dtype: is set by the arm itself (its dtype), not in options"),
    ("vllm-server client option", GOOD.replace("{name: cand, backend: mock, model: mock",
                                               "{name: cand, backend: vllm-server, model: m, "
                                               "options: {enforce_eager: true, startup_timeout_s: 0}"),
     "arms[1].options.startup_timeout_s: Input should be greater than 0"),
    ("mock option", GOOD.replace("{name: reference, role: reference, backend: mock, model: mock",
                                 "{name: reference, role: reference, backend: mock, model: mock, "
                                 "options: {delay: 1}"),
     "arms[0].options.delay: unknown key; known: batch_size, compliance, default, delay_s, keywords"),
    ("judge option", GOOD + "judge: {name: j, backend: mock, model: mock, options: {batch_size: 0}}\n",
     "judge.options.batch_size: Input should be greater than or equal to 1 (got 0)"),
    ("tau zero", GOOD + "thresholds: {tau: 0}\n", "thresholds.tau: Input should be greater than 0"),
    ("battery empty", GOOD.replace("battery: [{benchmark: smoke, limit: 3}]", "battery: []"),
     "battery: List should have at least 1 item"),
    ("bad yaml", GOOD + "arms: [\n", "screen.yaml:8: not valid YAML"),
    ("not a mapping", "- just\n- a list\n", "the config must be a YAML mapping"),
]


@pytest.mark.parametrize("label,text,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_and_key_path(tmp_path, label, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="nope.yaml: no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_example_and_demo_configs_validate(tmp_path):
    example = load_config(_write(tmp_path, EXAMPLE_CONFIG, "example.yaml"))
    assert [a.spec.role for a in example.arms] == ["reference", "candidate", "null"]
    demo = load_config(_write(tmp_path, demo_config_text(items=4, max_tokens=8), "demo.yaml"))
    roles = {a.spec.name: a.spec.role for a in demo.arms}
    assert roles == {"reference": "reference", "spec-quantized": "candidate", "spec-ngram": "candidate",
                     "null-aa": "null", "positive-control": "candidate"}
    control = next(a for a in demo.arms if a.spec.name == "positive-control").spec
    assert control.speculative["acceptance"] == "typical" and control.speculative["adversarial"]["system_prompt"]
    null = next(a for a in demo.arms if a.spec.name == "null-aa")
    reference = next(a for a in demo.arms if a.spec.role == "reference")
    assert null.order == "shuffled" and null.spec.options["batch_size"] != reference.spec.options["batch_size"]
