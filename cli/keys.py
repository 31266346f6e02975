"""API keys: create (printed once), list, revoke."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from durasumi.cli.context import get_ctx
from durasumi.cli.output import BAD_INPUT, console, err_console, fail, print_json
from durasumi.client.roles import Role

if TYPE_CHECKING:
    from durasumi.db.keys import KeyStore

app = typer.Typer(help="API keys for the HTTP facade (stored hashed).", no_args_is_help=True)


def _store(ctx: typer.Context) -> KeyStore:
    from durasumi.db.keys import KeyStore

    return KeyStore(get_ctx(ctx).settings.db_url)


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option(help="buyer, vendor or operator.")],
    owner: Annotated[
        str, typer.Option(metavar="NAME", help="The buyer or vendor name the key acts for.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create a key; it is printed once and never stored in clear."""
    try:
        issued = _store(ctx).create(role, owner)
    except ValueError as err:
        fail(str(err), BAD_INPUT)
    if as_json:
        print_json({"key": issued.key, **issued.principal.model_dump(mode="json")})
        return
    console.print(issued.key, highlight=False, soft_wrap=True)
    err_console.print(
        f"{role.value} key for {owner!r} (id {issued.principal.key_id}); store it now"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List keys (ids, roles, owners; never secrets)."""
    rows = _store(ctx).all()
    if as_json:
        print_json([r.model_dump(mode="json", exclude={"secret_sha256"}) for r in rows])
        return
    table = Table("id", "role", "owner", "created", "revoked")
    for r in rows:
        revoked = f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else ""
        table.add_row(r.id, r.role.value, r.owner, f"{r.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@app.command()
def revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's id.")],
) -> None:
    """Revoke a key by id."""
    if not _store(ctx).revoke(key_id):
        fail(f"no key with id {key_id!r}", BAD_INPUT)
    console.print(f"key {key_id} revoked")
