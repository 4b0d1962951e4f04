"""`tais demo`'s arguments and its size, without running the model (the run itself: tests/pipeline/
test_hf_end_to_end.py, slow). A bad size is one error line and exit 2, with nothing written; the default demo is the
size whose timing the README states, and a strict arm's AdvBench cell can PASS at that size."""

from __future__ import annotations

import pytest
import yaml
from scipy.stats import norm

from tais.cli.main import main
from tais.pipeline.demo import (
    DEMO_BATCH_SIZE,
    DEMO_ITEMS,
    DEMO_MAX_TOKENS,
    DEMO_NULL_BATCH_SIZE,
    demo_config_text,
)


@pytest.mark.parametrize("flag", ["--items", "--max-tokens"])
def test_a_size_below_one_is_one_error_line_and_exit_2_with_nothing_written(tmp_path, capsys, flag):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), flag, "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tais: error: --items and --max-tokens must be >= 1")
    assert "Traceback" not in err and not out.exists()


def test_the_default_demo_is_the_timed_size():
    config = yaml.safe_load(demo_config_text())
    assert config["battery"] == [{"benchmark": "smoke", "limit": DEMO_ITEMS}, {"benchmark": "advbench",
                                                                              "limit": DEMO_ITEMS}]
    assert (DEMO_ITEMS, DEMO_MAX_TOKENS) == (100, 24) and config["sampling"]["max_tokens"] == DEMO_MAX_TOKENS
    batch = {arm["name"]: arm["options"]["batch_size"] for arm in config["arms"]}
    assert batch == {"reference": DEMO_BATCH_SIZE, "spec-quantized": DEMO_BATCH_SIZE, "spec-ngram": DEMO_BATCH_SIZE,
                     "null-aa": DEMO_NULL_BATCH_SIZE, "positive-control": DEMO_BATCH_SIZE}
    assert DEMO_NULL_BATCH_SIZE != DEMO_BATCH_SIZE  # the A/A arm sees other batch compositions
    z2 = norm.ppf(0.95) ** 2
    assert z2 / (DEMO_ITEMS + z2) < 0.03  # 100 identical AdvBench pairs: the 90% interval is inside the margin


def test_the_strict_arms_share_the_reference_target_so_their_exact_kl_costs_no_pass(tmp_path):
    """The re-scoring phase skips the exact-KL passes of a candidate whose target (speculation off) has the
    reference target's fingerprint: in the demo that is every strict arm and the positive control; only the null arm
    (another batch size) has a target of its own. (The engine's part of the fingerprint, ``describe()``, follows
    from the spec, so equal specs give equal fingerprints.)"""
    from tais.pipeline.config import load_config
    from tais.pipeline.demo import write_demo_config
    from tais.pipeline.fingerprint import arm_fingerprint
    from tais.pipeline.rescoring import target_spec

    config = load_config(write_demo_config(tmp_path, items=4, max_tokens=8))
    target = {a.spec.name: arm_fingerprint({"backend": "hf"}, target_spec(a.spec)) for a in config.arms}
    assert [name for name, fp in target.items() if name != "reference" and fp == target["reference"]] == [
        "spec-quantized", "spec-ngram", "positive-control"]
    assert target["null-aa"] != target["reference"]
