"""Payload encryption (core/codec.py) and its codec server (core/codec_server.py), in process."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from core.codec import ENCODING, KEY_ID, EncryptionCodec, UndecryptablePayload, parse_keys
from core.codec_server import codec_app
from core.errors import InvalidInput
from core.settings import Settings
from core.temporal import DATA_CONVERTER, data_converter
from domain.smoke import SmokeInput

OLD, NEW = b"o" * 32, b"n" * 32
TOKEN = "t0ken-for-tests"
UI = "http://localhost:8233"


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def plain(text: str) -> Payload:
    return DATA_CONVERTER.payload_converter.to_payload(SmokeInput(message=text))


async def test_a_payload_is_sealed_with_the_current_key_and_opened_again() -> None:
    codec = EncryptionCodec({"k2": NEW, "k1": OLD})
    [sealed] = await codec.encode([plain("card-4242-secret")])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k2"
    assert b"card-4242-secret" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain("card-4242-secret")]


async def test_rotation_opens_what_the_old_key_sealed() -> None:
    [sealed_before] = await EncryptionCodec({"k1": OLD}).encode([plain("before")])
    rotated = EncryptionCodec({"k2": NEW, "k1": OLD})
    assert await rotated.decode([sealed_before]) == [plain("before")]
    [sealed_after] = await rotated.encode([plain("after")])
    assert sealed_after.metadata[KEY_ID] == b"k2"
    with pytest.raises(UndecryptablePayload, match="key 'k2', which HYBRID_PAYLOAD_KEYS does not"):
        await EncryptionCodec({"k1": OLD}).decode([sealed_after])


async def test_plain_payloads_pass_and_altered_ones_fail() -> None:
    codec = EncryptionCodec({"k1": OLD})
    assert await codec.decode([plain("from the CLI")]) == [plain("from the CLI")]
    [sealed] = await codec.encode([plain("x")])
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k1"}, data=sealed.data[:-1] + b"?")
    with pytest.raises(UndecryptablePayload, match="does not decrypt with key k1"):
        await codec.decode([relabelled])


def test_keys_are_checked_when_read() -> None:
    assert list(parse_keys(f"k2={b64(NEW)}, k1={b64(OLD)}")) == ["k2", "k1"]
    assert parse_keys("") == {}
    for spec, problem in (
        ("k1", "is not `id=<base64 key>`"),
        ("k1=%%%", "is not base64"),
        (f"k1={b64(b'short')}", "has 5 bytes, AES-256 takes 32"),
        (f"k1={b64(OLD)},k1={b64(NEW)}", "listed twice"),
    ):
        with pytest.raises(InvalidInput, match=problem):
            parse_keys(spec)


def test_the_converter_encrypts_only_when_keys_are_set() -> None:
    assert data_converter(Settings.model_construct(payload_keys=SecretStr(""))) is DATA_CONVERTER
    converter = data_converter(Settings.model_construct(payload_keys=SecretStr(f"k1={b64(OLD)}")))
    assert isinstance(converter.payload_codec, EncryptionCodec)


@pytest.fixture
async def codec_server() -> AsyncIterator[TestClient]:
    settings = Settings.model_construct(
        payload_keys=SecretStr(f"k2={b64(NEW)},k1={b64(OLD)}"),
        codec_server_token=SecretStr(TOKEN),
        temporal_ui_url=UI,
    )
    async with TestClient(TestServer(codec_app(settings))) as client:
        yield client


def body(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def test_the_codec_server_decodes_for_its_callers_only(codec_server: TestClient) -> None:
    [sealed] = await EncryptionCodec({"k1": OLD}).encode([plain("card-77")])
    wanted = json_format.MessageToDict(Payloads(payloads=[plain("card-77")]))
    authorised = await codec_server.post(
        "/decode", data=body([sealed]), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert authorised.status == 200
    assert await authorised.json() == wanted

    from_ui = await codec_server.post("/decode", data=body([sealed]), headers={"Origin": UI})
    assert from_ui.status == 200
    assert from_ui.headers["Access-Control-Allow-Origin"] == UI
    assert await from_ui.json() == wanted

    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"},
    ):
        refused = await codec_server.post("/decode", data=body([sealed]), headers=headers)
        assert refused.status == 403, headers
        assert "Access-Control-Allow-Origin" not in refused.headers


async def test_the_codec_server_answers_the_uis_preflight_and_encodes(
    codec_server: TestClient,
) -> None:
    preflight = await codec_server.options("/decode", headers={"Origin": UI})
    assert preflight.status == 204
    assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
    encoded = await codec_server.post(
        "/encode", data=body([plain("x")]), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    [sealed] = json_format.Parse(await encoded.text(), Payloads()).payloads
    assert sealed.metadata[KEY_ID] == b"k2"
    bad = await codec_server.post(
        "/decode", data="not json", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert bad.status == 400


async def test_the_codec_server_needs_a_key_and_without_a_token_answers_the_ui_only() -> None:
    with pytest.raises(InvalidInput, match="no key"):
        codec_app(
            Settings.model_construct(
                payload_keys=SecretStr(""), codec_server_token=SecretStr(TOKEN)
            )
        )
    settings = Settings.model_construct(
        payload_keys=SecretStr(f"k1={b64(OLD)}"),
        codec_server_token=SecretStr(""),
        temporal_ui_url=UI,
    )
    [sealed] = await EncryptionCodec({"k1": OLD}).encode([plain("x")])
    async with TestClient(TestServer(codec_app(settings))) as client:
        for headers, status in (
            ({"Origin": UI}, 200),
            ({"Authorization": "Bearer "}, 403),
            ({}, 403),
        ):
            answered = await client.post("/decode", data=body([sealed]), headers=headers)
            assert answered.status == status, headers
