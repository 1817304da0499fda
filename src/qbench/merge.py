"""``qbench merge``: shard runs (``--shard K/N``) joined into the run a single machine would have made.

The merged run gets the fingerprint of the unsharded configuration, so it lands in the same folder and has
exactly the metrics of a local run: records are put back in dataset order (their ``index``) before scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qbench.config import parse_shard
from qbench.errors import UsageError
from qbench.registry import TASKS
from qbench.store import Run, derive, find_runs, write_run
from qbench.types import Record


def merge_runs(paths: Sequence[Path], out: Path) -> Run:
    shards = find_runs(paths)
    if not shards:
        raise UsageError("no runs to merge")
    for shard in shards:
        if not shard.complete:
            raise UsageError(f"{shard.path} is not complete (status {shard.status}); finish it first")
    identities = [dict(s.manifest.identity or {}) for s in shards]
    if not all(identities):
        raise UsageError("only runs made by `qbench run` can be merged (an imported run has no shards)")
    base = {k: v for k, v in identities[0].items() if k != "shard"}
    for shard, identity in zip(shards, identities):
        if {k: v for k, v in identity.items() if k != "shard"} != base:
            raise UsageError(
                f"{shard.path} is of another task, model, dataset or configuration than {shards[0].path}"
            )
    given = sorted(parse_shard(i["shard"]) for i in identities if i.get("shard"))
    if len(given) != len(shards):
        raise UsageError("every run to merge must be a shard (made with --shard K/N)")
    n = given[0][1]
    if [k for k, _ in given] != list(range(1, n + 1)) or any(m != n for _, m in given):
        have = ", ".join(f"{k}/{m}" for k, m in given)
        raise UsageError(f"shards do not cover 1..{n} exactly once (have {have})")
    records: dict[str, Record] = {}
    for shard in shards:
        records.update(shard.records())
    ordered = sorted(records.values(), key=lambda r: (r.output.get("index", 0), r.id))
    first = shards[0].manifest
    task = TASKS.get(first.task)((first.config or {}).get("task_options", {}))
    if callable(getattr(task, "restore_judge", None)):
        task.restore_judge(first.task_info)
    metrics = task.metrics(first.dataset, ordered)
    manifest = derive(first, "merge", [s.path for s in shards], n=len(ordered))
    return write_run(
        manifest.folder(out), manifest, ordered, metrics, summary={"samples": len(ordered), "shards": n}
    )
