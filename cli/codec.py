"""`hybrid codec-server` and `hybrid codec-key`: payload encryption (core/codec.py)."""

from __future__ import annotations

import secrets

from cli.console import console, setup_logging
from core.settings import get_settings


def codec_server() -> None:
    """Serve Temporal's remote codec protocol, so that the Temporal UI and CLI show payloads
    decrypted (HYBRID_PAYLOAD_KEYS, HYBRID_CODEC_SERVER_TOKEN; on HYBRID_CODEC_SERVER_ADDRESS)."""
    from core.codec_server import serve

    settings = get_settings()
    setup_logging()
    console.print(
        f"codec server on {settings.codec_server_url}: the Temporal UI at"
        f" {settings.temporal_ui_url} may call it; the CLI with"
        f' `--codec-endpoint {settings.codec_server_url} --codec-auth "Bearer $TOKEN"`',
        highlight=False,
    )
    serve(settings)


def codec_key() -> None:
    """Print a new payload key and a codec server token, as settings to add (keep them secret)."""
    from core.codec import new_key

    key_id = f"k{secrets.token_hex(3)}"
    console.print(
        "# put the new key first; keep the old ones while histories need them\n"
        f"HYBRID_PAYLOAD_KEYS={key_id}={new_key()}\n"
        f"HYBRID_CODEC_SERVER_TOKEN={secrets.token_urlsafe(32)}",
        highlight=False,
        markup=False,
    )
