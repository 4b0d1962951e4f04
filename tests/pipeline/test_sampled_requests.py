"""Requests at temperature > 0: every (item, replicate) carries its own recorded seed, derived from the arm's seed, the
item and the replicate; greedy requests keep the historical rule; vLLM and OpenAI-wire requests carry the sampling."""

from __future__ import annotations

from tais.engines.openai.wire import request_body
from tais.engines.vllm.offline import sampling_extras
from tais.pipeline.run import request_seed, sampling_for
from tais.types import ChatMessage, Request, SamplingParams

HOT = SamplingParams(temperature=0.8, top_p=0.9, top_k=40, seed=7)


def test_each_replicate_and_item_gets_its_own_deterministic_seed():
    seeds = {(i, r): sampling_for(HOT, i, r).seed for i in ("a", "b") for r in range(3)}
    assert len(set(seeds.values())) == 6
    assert seeds == {(i, r): sampling_for(HOT, i, r).seed for i in ("a", "b") for r in range(3)}  # resumable
    assert all(0 <= s < 2 ** 31 for s in seeds.values())
    other_arm = sampling_for(SamplingParams(temperature=0.8, seed=8), "a", 0).seed
    assert other_arm != seeds[("a", 0)]  # a null arm with another seed draws other noise
    # an unset seed means 0, so the request still records the seed it was sent with
    assert sampling_for(SamplingParams(temperature=0.8), "a", 0).seed == request_seed(0, "a", 0)


def test_greedy_requests_are_unchanged():
    greedy = SamplingParams(seed=5)
    assert sampling_for(greedy, "a", 0) == greedy
    assert sampling_for(greedy, "a", 2).seed == 7
    assert sampling_for(SamplingParams(), "a", 3).seed is None


def test_openai_and_vllm_requests_carry_temperature_top_p_top_k_and_seed():
    request = Request("q", sampling_for(HOT, "q", 1), messages=(ChatMessage("user", "hi"),), replicate=1)
    _, body = request_body(request, model="m", api="chat", extra_body={})
    assert (body["temperature"], body["top_p"], body["top_k"], body["seed"]) == (0.8, 0.9, 40,
                                                                                  request_seed(7, "q", 1))
    _, plain = request_body(Request("q", SamplingParams(), messages=(ChatMessage("user", "hi"),)), model="m",
                            api="chat", extra_body={})
    assert "top_p" not in plain and "top_k" not in plain and "seed" not in plain
    assert sampling_extras(HOT) == {"top_p": 0.9, "top_k": 40}


def test_tais_plan_gives_the_token_sizing_rule(capsys):
    """17 / (vbar m^2) with the exact constant 2 (z_0.95 + z_0.90)^2 = 17.13: vbar 1.5, margin 0.05 -> 4 567 tokens
    (the worked example of tais.stats.tempering, computed here from scipy's normal quantiles)."""
    import json
    import math

    from scipy.stats import norm

    from tais.cli.main import main

    args = ["plan", "--discordance", "0.02", "--rate", "0.5", "--theta-margin", "0.05", "--varentropy", "1.5"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = 2 * (norm.ppf(0.95) + norm.ppf(0.9)) ** 2 / (1.5 * 0.05 ** 2)
    assert out["tokens_per_arm"] == math.ceil(expected) == 4568
    assert main(["plan", "--discordance", "0.02", "--rate", "0.5", "--varentropy", "1.5"]) == 2
    assert "--theta-margin" in capsys.readouterr().err


def test_a_reference_that_cannot_teacher_force_at_t_above_0_is_one_clear_error(tmp_path, capsys):
    """The mock backend has no teacher-forced scoring: a T > 0 screen with it as reference stops with one line naming
    why (positive control: the same config at T = 0 runs to a verdict)."""
    from helpers.mock_configs import mock_config
    from tais.cli.main import main

    greedy = mock_config(items=2)
    hot = greedy.replace("sampling: {max_tokens: 16, logprobs: 3}", "sampling: {max_tokens: 16, logprobs: 3, "
                         "temperature: 0.8}")
    assert hot != greedy
    for name, text in (("greedy", greedy), ("hot", hot)):
        (tmp_path / f"{name}.yaml").write_text(text)
    assert main(["run", str(tmp_path / "greedy.yaml"), "--out", str(tmp_path / "g"), "--quiet"]) in (0, 1, 3)
    code = main(["run", str(tmp_path / "hot.yaml"), "--out", str(tmp_path / "h"), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "teacher-forces every sample" in err and "Traceback" not in err
