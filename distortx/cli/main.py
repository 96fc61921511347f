"""The ``distortx`` click group; the subcommand modules add their commands to :data:`main`."""
from __future__ import annotations


import click

from ..errors import DistortxError


class _Group(click.Group):
    """Turns any DistortxError into one line on stderr and exit status 2 (1 for other failures)."""

    def invoke(self, ctx):
        from ..processes import sigterm_as_interrupt

        try:
            with sigterm_as_interrupt():  # kill / a scheduler's SIGTERM ends like Ctrl-C: workers stopped, one line
                return super().invoke(ctx)
        except DistortxError as exc:
            click.echo(f"distortx: error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("distortx: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="distortx")
def main() -> None:
    """Synthesize, classify and localize image distortions."""
