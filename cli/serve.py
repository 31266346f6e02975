"""The api command: the HTTP facade alone (production runs N of these behind a proxy)."""

from __future__ import annotations

from typing import Annotated

import typer

from durasumi.cli.context import get_ctx


def api(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Default: DURASUMI_API_HOST.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, metavar="PORT", help="Default: DURASUMI_API_PORT."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, metavar="N", help="uvicorn worker processes.")
    ] = 1,
) -> None:
    """Serve the HTTP facade (MIP-003 per agent, jobs, agents) with uvicorn."""
    import uvicorn

    from durasumi._extras import require_platform

    require_platform("the HTTP API")
    s = get_ctx(ctx).settings
    uvicorn.run(
        "durasumi.api.app:create_app",
        factory=True,
        host=host or s.api_host,
        port=port or s.api_port,
        workers=workers,
        log_level="info",
    )
