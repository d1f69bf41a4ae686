"""`storelens schema events`: print the versioned JSON schema of the events storelens emits.

Integrators validate what they receive over MQTT, NATS and webhooks against it; the same text is
committed as docs/events.schema.json (described in docs/EVENTS.md). ``--js`` also writes the
dashboard's JSDoc event types (``service/dashboard/static/events.js``, :mod:`storelens.events.jsdoc`)
from the same schema, so one command regenerates every published form of the event contract.
"""

from __future__ import annotations

from pathlib import Path

import typer

schema_app = typer.Typer(
    help="Published JSON schemas (the contract integrators validate against).", no_args_is_help=True
)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}", err=True)


@schema_app.command("events")
def events(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the schema to this file instead"),
    js: Path | None = typer.Option(
        None, "--js", help="Also write the dashboard's JSDoc event types and EVENT_TYPES (static/events.js) here"
    ),
) -> None:
    """Print the JSON schema (draft 2020-12) of one event; its ``schema_version`` says which contract."""
    from storelens.events.jsdoc import event_types_js
    from storelens.events.schema import event_schema_json

    text = event_schema_json()
    if output is None:
        typer.echo(text, nl=False)
    else:
        _write(output, text)
    if js is not None:
        _write(js, event_types_js())


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app, name="schema")
