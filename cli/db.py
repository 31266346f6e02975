"""The db commands: the app database's schema (registry, API keys)."""

from __future__ import annotations

import typer

from durasumi.cli.context import get_ctx
from durasumi.cli.output import FAILURE, console, fail

app = typer.Typer(help="The app database (agents registry, API keys).", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply the app database's migrations (safe to run from several processes at once)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from durasumi.db.engine import engine_for

    url = get_ctx(ctx).settings.db_url
    try:
        with engine_for(url).connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        fail(f"cannot migrate the app database: {reason}", FAILURE)
    console.print(f"app database at revision {revision}")
