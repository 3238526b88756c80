"""What a running engine job last reported: the heartbeat of the activity that supervises it
(activities/pipeline/engine_jobs.py), read from the workflow's description as the Temporal UI
and `temporal workflow describe` show it."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError


async def last_reported_line(client: Client, workflow_id: str) -> str | None:
    """The last log line of the engine job a pending activity of the workflow supervises
    (Spark's stages, Ray's trials), or None when it has none (yet)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:  # not started yet, or already gone
        return None
    for pending in description.raw_description.pending_activities:
        if not pending.heartbeat_details.payloads:
            continue
        details = await client.data_converter.decode(pending.heartbeat_details.payloads)
        if details and isinstance(details[-1], dict) and details[-1].get("last_line"):
            return str(details[-1]["last_line"])
    return None
