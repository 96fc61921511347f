"""The ``distortx`` console command: the CLI (torch and all: a second or two) imported under a Ctrl-C guard.

It lives outside the ``distortx`` package because importing anything inside it imports the package first. An
interrupt while the package is still importing ends like one during a command: ``distortx: interrupted`` on
stderr, exit status 130, no traceback.
"""
import sys


def main():
    try:
        from distortx.cli import main as cli
        from distortx.processes import ignore_sigterm_from_now
    except KeyboardInterrupt:
        sys.stderr.write("distortx: interrupted\n")
        raise SystemExit(130) from None
    try:
        return cli()
    finally:
        ignore_sigterm_from_now()
