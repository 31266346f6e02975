"""The browser console: three static files served from the package at ``/console``.

The page holds no data and no secret: it signs in with an API key kept in the tab's
sessionStorage and calls the JSON API with ``X-API-Key`` like any other client (see
docs/console.md). The files ship in the wheel (``package-data``: ``console/*``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse, RedirectResponse

__all__ = ["ASSETS", "CONSOLE_DIR", "router"]

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
"""Where the console's files live inside the package."""

ASSETS = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
"""The files besides the page that may be fetched, with their media types."""

# Only this origin's own files and API: no inline script, no CDN, nothing framed. A stray
# unescaped string can then at worst render as text, never run.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("")
async def console_page() -> FileResponse:
    """The console's single page."""
    return FileResponse(
        CONSOLE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS
    )


@router.get("/")
async def console_slash() -> RedirectResponse:
    """``/console/`` is the same page (its relative links expect ``/console``).

    The redirect is relative, so the console also works behind a proxy's path prefix.
    """
    return RedirectResponse("../console", status_code=status.HTTP_308_PERMANENT_REDIRECT)


@router.get("/{name}")
async def console_asset(name: str) -> FileResponse:
    """The page's script or stylesheet; nothing else under the folder is served."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no console file {name!r}")
    return FileResponse(CONSOLE_DIR / name, media_type=media_type, headers=_HEADERS)
