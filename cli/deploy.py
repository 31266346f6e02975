"""Worker Deployments: make a version current, see which old versions still run jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from durasumi.cli.context import get_ctx, run
from durasumi.cli.output import BAD_INPUT, console, fail, print_json

app = typer.Typer(
    help="Worker versions: switch new jobs to a version, watch old ones drain.",
    no_args_is_help=True,
)

DeploymentArg = Annotated[
    str, typer.Argument(metavar="DEPLOYMENT", help="The Worker Deployment's name.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@app.command()
def current(
    ctx: typer.Context,
    deployment: DeploymentArg,
    build_id: Annotated[
        str, typer.Argument(metavar="BUILD_ID", help="The build id new jobs should run on.")
    ],
    wait: Annotated[
        float,
        typer.Option(
            min=0, metavar="SECONDS", help="Seconds to wait for the version's workers to poll."
        ),
    ] = 30.0,
) -> None:
    """Make BUILD_ID the current version: new jobs start there, running ones stay put."""
    from temporalio.service import RPCError, RPCStatusCode

    from durasumi.workers import deployments

    c = get_ctx(ctx)
    try:
        deployments.worker_version(deployment, build_id)
    except ValueError as err:
        fail(str(err), BAD_INPUT)

    @run
    async def go() -> None:
        client = await c.client()
        try:
            previous = await deployments.set_current_version(
                client, deployment, build_id, wait=wait
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            fail(
                f"not found: {err.message} (start `durasumi worker --deployment {deployment} "
                f"--build-id {build_id}` first)",
                BAD_INPUT,
            )
        console.print(
            f"{deployment}: new jobs start on {build_id} (was {previous or 'unversioned'}); "
            f"keep the old workers running until `durasumi deploy show {deployment}` "
            "shows 0 running on their version",
            highlight=False,
        )

    go()


@app.command()
def show(ctx: typer.Context, deployment: DeploymentArg, as_json: JsonOpt = False) -> None:
    """Show the versions of a deployment, which is current, and what still runs on each."""
    from rich.table import Table

    from durasumi.workers import deployments

    c = get_ctx(ctx)

    @run
    async def go() -> None:
        view = await deployments.describe_deployment(await c.client(), deployment)
        if as_json:
            print_json(view)
            return
        table = Table("build id", "status", "running jobs", "server drainage", "created")
        for v in view.versions:
            created = f"{v.created:%Y-%m-%d %H:%M}" if v.created else ""
            table.add_row(v.build_id, v.status, str(v.running), v.drainage or "", created)
        console.print(f"deployment {view.name}: current {view.current_build_id or 'unversioned'}")
        console.print(table)

    go()
