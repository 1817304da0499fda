"""Q-Align levels and user levels through the ``hf:`` adapter on tiny models of several families, each score
checked against a direct transformers computation (the prompt written by hand, the word ids straight from the
tokenizer, the softmax and weights done with torch in float64)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qbench.scoring.levels import (  # noqa: E402
    QALIGN_LEVELS,
    QALIGN_PREFIX,
    Levels,
    level_score,
    parse_levels,
    qalign_content,
)
from qbench.scoring.presets import CLIP_MEAN_RGB, pad_to_square  # noqa: E402
from qbench.types import Request  # noqa: E402
from test_hf_adapter import IMAGES, adapter, direct_last_logits, word_id  # noqa: E402

pytestmark = pytest.mark.hf

FAMILIES = ("llava", "qwen2_vl", "idefics3", "internvl")
TOL = 1e-4


def direct_level_score(family: str, image: object, levels: Levels) -> float:
    logits = direct_last_logits(family, qalign_content(), [image], QALIGN_PREFIX).to(torch.float64)
    x = torch.stack([logits[word_id(family, w)] for w in levels.words])
    probs = torch.softmax(x / levels.temperature, dim=0)
    return float(probs @ torch.tensor(levels.weights, dtype=torch.float64))


def request(image: object, words: tuple[str, ...]) -> Request:
    return Request(content=qalign_content(), images=(image,), assistant_prefix=QALIGN_PREFIX, words=words)


@pytest.mark.parametrize("family", FAMILIES)
def test_qalign_and_user_levels_equal_a_direct_computation(family: str) -> None:
    model = adapter(family)
    user = parse_levels("good:1,poor:0,fair:0.5", temperature=3.0)
    images = [pad_to_square(img, CLIP_MEAN_RGB) for img in IMAGES[:3]]
    results = model.score_tokens([request(img, QALIGN_LEVELS.words) for img in images])
    scores = []
    for img, got in zip(images, results):
        score = level_score(got, QALIGN_LEVELS).score
        assert score == pytest.approx(direct_level_score(family, img, QALIGN_LEVELS), abs=TOL)
        scores.append(score)
    assert len({round(s, 6) for s in scores}) == 3  # the pictures matter
    [got] = model.score_tokens([request(images[0], user.words)])
    assert level_score(got, user).score == pytest.approx(direct_level_score(family, images[0], user), abs=TOL)


def test_padding_changes_what_the_model_sees() -> None:
    model = adapter("llava")
    wide = IMAGES[4]  # 90 x 40
    plain, padded = model.score_tokens(
        [request(wide, QALIGN_LEVELS.words), request(pad_to_square(wide, CLIP_MEAN_RGB), QALIGN_LEVELS.words)]
    )
    assert level_score(plain, QALIGN_LEVELS).score != pytest.approx(
        level_score(padded, QALIGN_LEVELS).score, abs=1e-6
    )


def test_seeded_samples_are_reproducible_and_seed_dependent() -> None:
    from qbench.scoring.rating import PROMPTS
    from qbench.scoring.samples import sample_settings
    from qbench.types import ImageSlot, Text

    model = adapter("qwen2_vl")
    prompt = PROMPTS["vq-r1-fast"]

    def sampled(seed: int) -> Request:
        setting = sample_settings("vq-r1-fast", 1, seed=seed)[0].describe()
        return Request(
            content=(ImageSlot(0), Text(prompt.text)),
            images=(IMAGES[0],),
            max_new_tokens=12,
            greedy=False,
            sampling=tuple(sorted(setting.items())),
        )

    a, b, c = model.generate([sampled(42), sampled(42), sampled(7)])
    assert a == b  # the same seed, the same draw, whatever it is batched with
    [again] = model.generate([sampled(42)])
    assert again == a and c != a
