"""Payload encryption: AES-256-GCM over every payload the project's clients and workers send to
Temporal, so that its database and UI hold no card id, address, IP or device id in plain text.

Keys come from the `payload_keys` setting (HYBRID_PAYLOAD_KEYS): `id=<base64 of 32 bytes>`
pairs, comma-separated, the first the one that encrypts. Every key listed decrypts, so a key is
rotated by putting a new one first and keeping the old ones until no history needs them. An
encrypted payload names its key in its metadata; a payload without this codec's encoding
passes through unchanged, so the `temporal` CLI's plain JSON input keeps working.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from core.errors import InvalidInput

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class UndecryptablePayload(ValueError):
    pass


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id=<base64>` pairs, in order (the first encrypts); each key 32 bytes (AES-256)."""
    keys: dict[str, bytes] = {}
    for pair in filter(None, (part.strip() for part in spec.split(","))):
        key_id, _, encoded = pair.partition("=")
        if not KEY_ID_PATTERN.fullmatch(key_id) or not encoded:
            raise InvalidInput(
                f"HYBRID_PAYLOAD_KEYS: {key_id!r} is not `id=<base64 key>` (ids: letters, digits,"
                " `._-`)",
                "generate one with `./hybrid codec-key`",
            )
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as error:
            raise InvalidInput(f"HYBRID_PAYLOAD_KEYS: key {key_id} is not base64") from error
        if len(key) != 32:
            raise InvalidInput(
                f"HYBRID_PAYLOAD_KEYS: key {key_id} has {len(key)} bytes, AES-256 takes 32",
                "generate one with `./hybrid codec-key`",
            )
        if key_id in keys:
            raise InvalidInput(f"HYBRID_PAYLOAD_KEYS: key id {key_id} is listed twice")
        keys[key_id] = key
    return keys


def new_key() -> str:
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]):
        if not keys:
            raise ValueError("an encryption codec needs at least one key")
        self.current = next(iter(keys))
        self.ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        # the key id is bound to the ciphertext: a payload relabelled with another key fails
        sealed = self.ciphers[self.current].encrypt(
            nonce, payload.SerializeToString(), self.current.encode()
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self.current.encode()}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not ours: plain JSON from the CLI, or from before encryption
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self.ciphers.get(key_id)
        if cipher is None:
            raise UndecryptablePayload(
                f"a payload is encrypted with key {key_id!r}, which HYBRID_PAYLOAD_KEYS does not"
                f" list (it lists {', '.join(self.ciphers)})"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag as error:
            raise UndecryptablePayload(
                f"a payload does not decrypt with key {key_id} (altered, or another key of that id)"
            ) from error
        return Payload.FromString(plain)
