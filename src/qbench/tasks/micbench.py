"""MICBench: multiple-choice questions over 3-4 images (``qbench run micbench``; protocol.md 9.6).

The request is the Q-Bench A1 prompt with every image after its label, in order (``The first image:`` image
... ``The fourth image:`` image), then the question, ``Choose between one of the options as follows:`` and the
``A. option`` lines (:func:`qbench.tasks.prompts.a1_content`). MICBench publishes no prompt of its own; its
authors' Q-Bench+ pair prompt is the same pattern with two images, so this is its natural extension (recorded as
``micbench-a1-labels-v1`` in each run). The letter is read by the A1 rules; unreadable is wrong.

Metrics: ``accuracy`` overall and ``accuracy/<k>-images`` for each ``num_img`` (3, 4), with their ``n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qbench.data.dataset import Dataset
from qbench.errors import UsageError
from qbench.tasks import prompts
from qbench.tasks.choice import ChoiceOutput, ChoiceTask
from qbench.types import Part, Sample

__all__ = ["MICBENCH_PROMPT_VERSION", "MICBenchTask", "columns"]

MICBENCH_PROMPT_VERSION = "micbench-a1-labels-v1"


class MICBenchTask(ChoiceTask):
    name = "micbench"
    prompt_version = MICBENCH_PROMPT_VERSION

    def check_dataset(self, dataset: Dataset) -> None:
        for sample in dataset.samples:
            if not 2 <= len(sample.images) <= len(prompts.IMAGE_LABELS):
                raise UsageError(
                    f"task micbench asks about 2 to {len(prompts.IMAGE_LABELS)} images; '{dataset.name}' item "
                    f"{sample.id} has {len(sample.images)}"
                )

    def content(self, sample: Sample, n_images: int) -> tuple[Part, ...]:
        return prompts.a1_content(sample.question or "", sample.options, n_images)

    def fields(self, sample: Sample) -> dict[str, Any]:
        return {"num_img": int(sample.extra.get("num_img", len(sample.images)))}

    def groups(self, output: ChoiceOutput) -> Iterable[str]:
        return (f"{output.num_img}-images",)


def columns(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(metric key, label): one column per number of images, then Overall."""
    counts = sorted(
        int(k.split("/")[1].split("-")[0])
        for k in metrics
        if k.startswith("accuracy/") and k.endswith("-images")
    )
    return [(f"accuracy/{n}-images", f"{n} images") for n in counts] + [("accuracy", "Overall")]
