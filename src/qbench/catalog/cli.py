"""``qbench data list | info | get | add``: the catalog on the command line (registered in ``qbench.cli``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from qbench.errors import QBenchError


@click.group("data")
@click.option(
    "--sources",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A TOML file of extra or overriding sources and mirrors (else QBENCH_SOURCES).",
)
def data(sources: Path | None) -> None:
    """Datasets: list them with their sources and status, download them, or adopt a copy you have.

    Installs go to QBENCH_DATA_DIR (default: the user data dir); then --data NAME just works.
    """
    if sources is not None:
        from qbench.catalog.registry import SOURCES_ENV

        os.environ[SOURCES_ENV] = str(sources)  # the runs started from here see the same catalog


def _entries(names: tuple[str, ...]) -> list[Any]:
    """Catalog entries for names: entries, --data names (llvisionqa-dev) or suites (qbench-a3)."""
    from qbench.catalog.registry import load_catalog

    catalog = load_catalog()
    out: dict[str, Any] = {}
    for name in names:
        if name in catalog.suites:
            for member in catalog.suites[name]:
                out[member] = catalog.entries[member]
            continue
        hit = catalog.view(name)
        entry = hit[0] if hit else catalog.entry(name)
        out[entry.name] = entry
    return list(out.values())


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """Every dataset qbench knows: the names --data takes, sources, size, licence, status, path."""
    from qbench.catalog.home import data_home, status
    from qbench.catalog.registry import load_catalog

    catalog = load_catalog()
    rows: list[dict[str, Any]] = []
    for entry in catalog.entries.values():
        state = status(entry)
        sources = [f"{f.name}: {f.where}" for f in entry.files[:1]] if not entry.sources else []
        sources += [
            f"{s.name}{' (manual)' if s.manual else ''}: {s.url if s.manual else s.where}"
            for s in entry.sources
        ]
        rows.append(
            {
                "name": entry.name,
                "data_names": [v.name for v in entry.views],
                "task": entry.task,
                "status": state.text(),
                "size": entry.size,
                "items": entry.items,
                "license": entry.license,
                "terms": entry.terms,
                "sources": sources,
                "install": entry.get_command(),
                "path": str(state.path),
            }
        )
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=1))
        return
    from rich.table import Table

    from qbench.report.render import console

    table = Table(title=f"qbench datasets (data home {data_home()}; catalog {catalog.origin})")
    for column in ("dataset", "--data names", "status", "size", "licence / terms", "sources", "path"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            f"{row['name']} ({row['task']})",
            "\n".join(row["data_names"]),
            row["status"],
            row["size"],
            row["license"] + ("\n(terms: accept on get)" if row["terms"] else ""),
            "\n".join(row["sources"]),
            row["path"] if row["status"] != "missing" else f"{row['path']}\n→ {row['install']}",
        )
    console().print(table)
    suites = ", ".join(f"{k} = {' '.join(v)}" for k, v in catalog.suites.items())
    click.echo(f"suites: {suites}")


@data.command()
@click.argument("name")
def info(name: str) -> None:
    """Everything known about one dataset: sources, checksums, what is verified, and its install."""
    import json

    from qbench.catalog.home import read_record, status

    (entry,) = _entries((name,))
    click.echo(f"{entry.name}: {entry.title}")
    click.echo(f"  --data names: {', '.join(v.name for v in entry.views)}")
    click.echo(f"  homepage: {entry.homepage}\n  licence: {entry.license}")
    if entry.terms:
        click.echo(f"  terms: {entry.terms}")
    for remote in (*entry.files, *entry.sources):
        check = f"sha256 {remote.sha256}" if remote.sha256 else "no recorded sha256"
        if remote.git_sha1:
            check += f", git blob {remote.git_sha1}"
        kind = "manual download" if remote.manual else check
        click.echo(f"  {remote.name}: {remote.url if remote.manual else remote.where} ({kind})")
    click.echo(f"  verified before release: {entry.verified or '-'}")
    click.echo(f"  unverified until a real download: {entry.unverified or '-'}")
    state = status(entry)
    click.echo(f"  status: {state.text()} at {state.path}")
    record = read_record(entry.name)
    if record is not None:
        click.echo("  install: " + json.dumps(record.to_json(), indent=1).replace("\n", "\n  "))
    else:
        click.echo(f"  install it: {entry.get_command()}")


def _confirm() -> Any:
    if sys.stdin.isatty() and sys.stderr.isatty():
        return lambda text: click.confirm(text, default=False, err=True)
    return None


@data.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--accept-terms", is_flag=True, help="Accept the datasets' terms of use (shown otherwise).")
@click.option("--source", default=None, help="Use this source (e.g. a mirror) instead of the first.")
@click.option("--partial", is_flag=True, help="Install even if the download lacks some listed images.")
@click.option("--force", is_flag=True, help="Install again even if it is already installed.")
def get(names: tuple[str, ...], accept_terms: bool, source: str | None, partial: bool, force: bool) -> None:
    """Download NAME... from the public sources: resumable, checked, unpacked safely, laid out."""
    from qbench.catalog import install
    from qbench.catalog.home import status
    from qbench.catalog.registry import load_catalog

    catalog = load_catalog()
    opts = install.Options(
        partial=partial, force=force, accept_terms=accept_terms, confirm=_confirm(), source=source
    )
    entries = _entries(names)
    failures: list[QBenchError] = []
    for entry in entries:
        try:
            record = install.get(entry, catalog, opts)
        except QBenchError as exc:
            if len(entries) == 1:
                raise
            click.echo(f"{entry.name}: error: {exc.one_line()}", err=True)  # the others still install
            failures.append(exc)
            continue
        click.echo(f"{entry.name}: {status(entry).text()} ({_summary(record)})")
    if failures:
        raise SystemExit(max(f.exit_code for f in failures))


@data.command()
@click.argument("name")
@click.option(
    "--from",
    "origin",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder or an archive (zip, tar, tgz) holding the images, in any wrapping folders.",
)
@click.option("--copy", is_flag=True, help="Copy the images instead of linking to them.")
@click.option("--partial", is_flag=True, help="Accept an incomplete copy (every report then says partial).")
@click.option(
    "--mos",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The official list/MOS file (checked against its recorded hash); else found in --from or fetched.",
)
def add(name: str, origin: Path, copy: bool, partial: bool, mos: Path | None) -> None:
    """Install NAME from a copy you have (manual downloads: SPAQ, AGIQA-3K, CGIQA-6K; a lab's copy)."""
    from qbench.catalog import install
    from qbench.catalog.home import status
    from qbench.catalog.registry import load_catalog

    (entry,) = _entries((name,))
    opts = install.Options(partial=partial, copy=copy, mos=mos)
    record = install.add(entry, origin, load_catalog(), opts)
    click.echo(f"{entry.name}: {status(entry).text()} ({_summary(record)})")


def _summary(record: Any) -> str:
    parts = [f"{record.found} of {record.total} images" if record.total else "files"]
    parts.append(record.layout)
    computed = [c.name for c in (*record.files, *record.archives) if not c.check.startswith("known")]
    if computed:
        parts.append("no recorded checksum for " + ", ".join(computed) + " (computed and recorded)")
    return "; ".join(parts)
