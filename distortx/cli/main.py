"""The ``distortx`` click group; the subcommand modules add their commands to :data:`main`."""
from __future__ import annotations


import click

from ..errors import DistortxError


def _usage_line(exc: "click.UsageError") -> str:
    """A click usage error in one line, with where to read the usage."""
    name = exc.ctx.command_path if exc.ctx is not None else "distortx"
    return f"{exc.format_message()} (usage: {name} --help)"


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
        except click.UsageError as exc:  # a subcommand's bad option: one line too (`--help` shows the usage)
            click.echo(f"distortx: error: {_usage_line(exc)}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("distortx: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="distortx")
def main() -> None:
    """Synthesize, classify and localize image distortions."""
