"""Payload encryption against the real Temporal server: with HYBRID_PAYLOAD_KEYS set, the
history the server stores holds no plaintext of what the workflow was given; it replays with
the keys; and the `temporal` CLI shows it decrypted through the codec server, only with its
token."""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from pydantic import SecretStr
from temporalio.worker import Replayer

from core.codec import new_key
from core.codec_server import codec_app
from core.settings import Settings
from core.temporal import connect, data_converter
from core.toolchain import venv_tool
from domain.smoke import SmokeInput
from tests.support.worker import ThreadedWorker
from workflows.smoke import SmokeWorkflow

pytestmark = pytest.mark.integration
TOKEN = uuid.uuid4().hex


def payloads_in(history_json: str) -> list[bytes]:
    """Every payload's bytes in a history's JSON (base64 there)."""
    return [base64.b64decode(data) for data in re.findall(r'"data": ?"([\w+/=]+)"', history_json)]


def workflow_show(
    settings: Settings, workflow_id: str, *codec: str
) -> subprocess.CompletedProcess[str]:
    """`temporal workflow show` as a user runs it (blocking: called in a thread)."""
    return subprocess.run(
        [
            str(venv_tool("temporal")),
            "workflow",
            "show",
            "--address",
            settings.temporal_address,
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
            *codec,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def shows(history_json: str, text: str) -> bool:
    return text in history_json or any(text.encode() in data for data in payloads_in(history_json))


@pytest.fixture(scope="module")
def encrypted(settings: Settings) -> Settings:
    """The session's settings with keys, on task queues of their own: a worker without the keys
    must never take these workflows."""
    suffix = uuid.uuid4().hex[:6]
    return settings.model_copy(
        update={
            "payload_keys": SecretStr(f"k2={new_key()},k1={new_key()}"),
            "codec_server_token": SecretStr(TOKEN),
            "order_task_queue": f"{settings.order_task_queue}-enc-{suffix}",
            "fraud_task_queue": f"{settings.fraud_task_queue}-enc-{suffix}",
            "pipeline_task_queue": f"{settings.pipeline_task_queue}-enc-{suffix}",
        }
    )


@pytest.fixture(scope="module")
async def codec_server(encrypted: Settings) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = web.AppRunner(codec_app(encrypted))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_server_stores_no_plaintext_and_the_codec_server_shows_it(
    stack, encrypted: Settings, codec_server: str
) -> None:
    card = f"card-{uuid.uuid4().hex}"
    workflow_id = f"smoke-encrypted-{uuid.uuid4().hex[:8]}"
    with ThreadedWorker(encrypted):
        client = await connect(encrypted)
        result = await client.execute_workflow(
            SmokeWorkflow.run,
            SmokeInput(message=card),
            id=workflow_id,
            task_queue=encrypted.order_task_queue,
        )
    assert result.echo == card
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    stored = history.to_json()
    assert len(payloads_in(stored)) >= 4  # the input, the activity's input and result, the result
    assert card not in stored
    assert not shows(stored, card)
    assert base64.b64encode(b"binary/encrypted").decode() in stored

    # replays with the keys (as the replay tests replay stored histories)
    await Replayer(
        workflows=[SmokeWorkflow], data_converter=data_converter(encrypted)
    ).replay_workflow(history)

    show = functools.partial(workflow_show, encrypted, workflow_id)
    authorised = await asyncio.to_thread(
        show, "--codec-endpoint", codec_server, "--codec-auth", f"Bearer {TOKEN}"
    )
    assert authorised.returncode == 0, authorised.stderr
    assert shows(authorised.stdout, card)
    plain = await asyncio.to_thread(show)
    assert plain.returncode == 0, plain.stderr
    assert not shows(plain.stdout, card)
    refused = await asyncio.to_thread(
        show, "--codec-endpoint", codec_server, "--codec-auth", "Bearer wrong"
    )
    assert not shows(refused.stdout, card)
