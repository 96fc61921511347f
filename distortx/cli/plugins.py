"""`distortx plugins ...`"""
from __future__ import annotations

import json
from dataclasses import asdict

import click

from .main import main


@main.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_list(as_json: bool) -> None:
    """Name, version, distribution and what each plugin registers."""
    from ..plugins import get_plugin_manager

    infos = list(get_plugin_manager().infos.values())
    if as_json:
        click.echo(json.dumps([asdict(i) for i in infos], indent=2))
        return
    for i in infos:
        what = "; ".join(f"{k}s: {', '.join(v)}" for k, v in sorted(i.registers.items())) or "nothing"
        state = f"  BROKEN: {i.error}" if i.error else ""
        click.echo(f"{i.name}  ({i.distribution} {i.version}{', built-in' if i.builtin else ''})  {what}{state}")
