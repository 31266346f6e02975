"""The HTTP API: the FastAPI facade (part of the platform extra)."""

from durasumi._extras import require_platform

require_platform("the HTTP API")
