"""The FastAPI facade: built in a lifespan, thin routes, errors as JSON.

Run it with ``uvicorn api.app:create_app --factory`` (``durasumi dev`` serves it too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from durasumi.api import errors, metrics
from durasumi.api.deps import Services
from durasumi.api.limits import BodyLimit
from durasumi.api.metrics import ApiMetrics, RequestTelemetry
from durasumi.api.routes import agents, codec, console, docs, files, jobs, masumi_webhook, mip003
from durasumi.client.connect import connect
from durasumi.db.keys import KeyStore
from durasumi.db.registry import Registry
from durasumi.db.signing import Signer
from durasumi.workers.settings import Settings
from durasumi.workers.telemetry import TRACER_NAME, Telemetry

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    client: Client | None = None,
    *,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the app; settings are read here, once, when none are given.

    Args:
        settings: The settings (default: from the environment).
        client: An already connected Temporal client (default: connect in the lifespan).
        telemetry: The tracer of the process serving the app (default: from the settings;
            traces are off unless configured).
    """
    settings = settings or Settings()
    own_telemetry = telemetry is None
    telemetry = telemetry or Telemetry.from_settings(settings, "durasumi-api", metrics=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services(
            settings=settings,
            client=client or await connect(settings, interceptors=telemetry.interceptors),
            registry=Registry(settings.db_url),
            keys=KeyStore(settings.db_url),
            signer=Signer(settings.signing_secret_bytes()),
        )
        yield
        if own_telemetry:
            telemetry.shutdown()

    app = FastAPI(
        title="durasumi",
        summary="Durable, paid, interactive AI agents on Temporal: MIP-003 per agent and jobs.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by routes/docs.py, with their assets (no CDN)
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, larger={"/files": settings.max_file_bytes}
    )
    app.state.metrics = ApiMetrics() if settings.api_metrics else None
    tracer = telemetry.provider.get_tracer(TRACER_NAME) if telemetry.provider else None
    app.add_middleware(RequestTelemetry, metrics=app.state.metrics, tracer=tracer)
    if settings.api_metrics:
        app.include_router(metrics.router)
    app.include_router(mip003.router)
    app.include_router(jobs.router)
    app.include_router(agents.router)
    app.include_router(codec.router)
    app.include_router(masumi_webhook.router)
    files.install(app, settings)
    app.include_router(console.router)
    docs.install(app)
    app.add_middleware(codec.CodecCors, origins=settings.codec_origins())
    return app
