"""The app database: agents registry, API keys, signing secret, migrations (platform extra)."""

from durasumi._extras import require_platform

require_platform("the app database")
