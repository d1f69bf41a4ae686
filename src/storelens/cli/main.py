"""The `storelens` command.

Sub-commands live one module per capability in ``storelens.cli.commands``; each module exposes
``register(app)``. Discovery keeps this file from becoming the place every change collides.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

import typer

import storelens
from storelens.cli import commands

app = typer.Typer(
    name="storelens",
    help="Privacy-first retail video analytics: shopper behaviour and intent from store cameras.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"storelens {storelens.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print version"),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from storelens.core.redact import install_secret_filter

    install_secret_filter()  # every command: no URL userinfo (camera, broker passwords) in a log line


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
