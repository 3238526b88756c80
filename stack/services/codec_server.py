"""The codec server, as a service of the stack when payloads are encrypted (HYBRID_PAYLOAD_KEYS):
the local Temporal UI is pointed at it (stack/services/temporal.py)."""

from __future__ import annotations

from dataclasses import dataclass

from stack.base import CliService, Port


@dataclass(kw_only=True)
class CodecServer(CliService):
    name: str = "codec-server"
    description: str = "decrypts payloads for the Temporal UI and CLI (HYBRID_PAYLOAD_KEYS)"
    cli_args: tuple[str, ...] = ("codec-server",)
    ready: str = "codec server on"

    def __post_init__(self) -> None:
        port = int(self.settings.codec_server_address.rsplit(":", 1)[1])
        self.ports = [Port(port, "codec server", "HYBRID_CODEC_SERVER_ADDRESS")]

    def url(self) -> str | None:
        return self.settings.codec_server_url
