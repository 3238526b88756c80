"""The codec server: Temporal's remote codec protocol (POST /encode, /decode with a Payloads JSON
body) over core/codec.py, so that the Temporal UI and `temporal ... --codec-endpoint` show
payloads decrypted. Bound to localhost by default.

Who may call it: a caller with `Authorization: Bearer <codec_server_token>` (the CLI:
`--codec-auth "Bearer <token>"`; with no token set, no such caller), or a browser page of the
Temporal UI (its origin, checked through CORS). The UI sends no token unless it has a login of
its own, and a browser cannot forge an Origin, but any local program can: on localhost this
exposes no more than the UI itself, which shows the decrypted payloads to whoever opens it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from core.codec import EncryptionCodec, UndecryptablePayload, parse_keys
from core.errors import InvalidInput
from core.settings import Settings

log = logging.getLogger("codec-server")
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def codec_app(settings: Settings) -> web.Application:
    keys = parse_keys(settings.payload_keys.get_secret_value())
    token = settings.codec_server_token.get_secret_value()
    if not keys:
        raise InvalidInput(
            "the codec server has no key to decrypt with (HYBRID_PAYLOAD_KEYS is empty)",
            "generate one with `./hybrid codec-key`",
        )
    if not token:
        log.warning(
            "no HYBRID_CODEC_SERVER_TOKEN: only the Temporal UI's pages are answered, no CLI"
            " (`./hybrid codec-key` prints a token)"
        )
    codec = EncryptionCodec(keys)
    ui_origin = origin_of(settings.temporal_ui_url)

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        if request.headers.get("Origin") == ui_origin:
            response.headers["Access-Control-Allow-Origin"] = ui_origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Vary"] = "Origin"
        return response

    def refusal(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is not None:
            return None if origin == ui_origin else f"origin {origin} is not the Temporal UI"
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token and hmac.compare_digest(given.encode(), token.encode()):
            return None
        return "a bearer token is required (HYBRID_CODEC_SERVER_TOKEN)"

    async def preflight(request: web.Request) -> web.StreamResponse:
        return cors(request, web.Response(status=204))

    def handler(decode: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def convert(request: web.Request) -> web.StreamResponse:
            refused = refusal(request)
            if refused is not None:
                log.warning("refused %s %s: %s", request.method, request.path, refused)
                return cors(request, web.json_response({"message": refused}, status=403))
            try:
                payloads = json_format.Parse(await request.text(), Payloads())
                converted = await (codec.decode if decode else codec.encode)(payloads.payloads)
            except (json_format.ParseError, UndecryptablePayload) as error:
                return cors(request, web.json_response({"message": str(error)}, status=400))
            body = json_format.MessageToJson(Payloads(payloads=converted))
            return cors(request, web.Response(text=body, content_type="application/json"))

        return convert

    app = web.Application()
    app.router.add_post("/decode", handler(decode=True))
    app.router.add_post("/encode", handler(decode=False))
    app.router.add_route("OPTIONS", "/{name:(en|de)code}", preflight)
    return app


def serve(settings: Settings) -> None:
    host, _, port = settings.codec_server_address.rpartition(":")
    web.run_app(codec_app(settings), host=host, port=int(port), print=None)
