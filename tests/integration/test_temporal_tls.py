"""Temporal connections configured the way Temporal's SDKs read them (TEMPORAL_ADDRESS,
TEMPORAL_TLS_*: core.temporal.connect_config), over TLS and mTLS for real: a TLS-terminating
proxy with certificates made here in front of the dev server, the worker and a workflow through
it, and a client without what the server requires refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from core.temporal import TemporalUnavailable, connect, temporal_target
from domain.smoke import SmokeInput
from tests.support.tls import Certificates, make_certificates, tls_proxy
from tests.support.worker import ThreadedWorker
from workflows.smoke import SmokeWorkflow

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def own_queues(settings: Settings) -> Settings:
    suffix = uuid.uuid4().hex[:6]
    return settings.model_copy(
        update={
            f"{kind}_task_queue": f"{getattr(settings, f'{kind}_task_queue')}-tls-{suffix}"
            for kind in ("order", "fraud", "pipeline")
        }
    )


async def smoke_through(settings: Settings) -> str:
    with ThreadedWorker(settings):
        client = await connect(settings)
        result = await client.execute_workflow(
            SmokeWorkflow.run,
            SmokeInput(message="through TLS"),
            id=f"smoke-tls-{uuid.uuid4().hex[:8]}",
            task_queue=settings.order_task_queue,
        )
    return result.echo


@pytest.fixture
def tls_port(stack, base_settings: Settings, certificates: Certificates) -> Iterator[int]:
    upstream = ("127.0.0.1", base_settings.temporal_port)
    with tls_proxy(certificates, upstream, client_certificates=False) as port:
        yield port


@pytest.fixture
def mtls_port(stack, base_settings: Settings, certificates: Certificates) -> Iterator[int]:
    upstream = ("127.0.0.1", base_settings.temporal_port)
    with tls_proxy(certificates, upstream, client_certificates=True) as port:
        yield port


def use_tls(monkeypatch: pytest.MonkeyPatch, port: int, ca: Path) -> None:
    monkeypatch.delenv("HYBRID_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(ca))
    monkeypatch.setenv("TEMPORAL_TLS_SERVER_NAME", "localhost")


async def test_the_worker_and_a_workflow_work_over_tls(
    monkeypatch: pytest.MonkeyPatch, own_queues: Settings, tls_port: int, certificates: Certificates
) -> None:
    use_tls(monkeypatch, tls_port, certificates.ca)
    settings = own_queues  # HYBRID_TEMPORAL_ADDRESS not given: the SDK's variables decide
    assert temporal_target(settings) == f"127.0.0.1:{tls_port} over TLS (namespace default)"
    assert await smoke_through(settings) == "through TLS"
    # plaintext to the TLS port: refused
    monkeypatch.delenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    monkeypatch.delenv("TEMPORAL_TLS_SERVER_NAME")
    with pytest.raises(TemporalUnavailable):
        await connect(settings)


async def test_mtls_admits_the_client_with_its_certificate_only(
    monkeypatch: pytest.MonkeyPatch,
    own_queues: Settings,
    mtls_port: int,
    certificates: Certificates,
) -> None:
    use_tls(monkeypatch, mtls_port, certificates.ca)
    with pytest.raises(TemporalUnavailable):
        await connect(own_queues)  # no client certificate
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(certificates.client_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(certificates.client_key))
    assert await smoke_through(own_queues) == "through TLS"
