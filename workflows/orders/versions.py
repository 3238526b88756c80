"""The order saga's versions, kept replayable with `workflow.patched`.

    v1  the first release
    v2  patch "check-shipping-zone-first": the shipping zone is checked before stock or money is
        held
    v3  patch "status-milestones-only": the search attributes are set only at the milestones
        (AWAITING_REVIEW, COMPENSATING, the outcome), in one upsert each
    v4  patch "saga-v4": behaves as v3, with one patch marker per run instead of two (every
        `patched` call that answers True records a marker and an upsert of
        TemporalChangeVersion), so a run asks for its version once, newest first
    v5  patch "saga-v5": a run of an order that the database has recorded as finished (a
        second start of the order id: Temporal starts a new run for a closed workflow id)
        returns the recorded outcome and touches nothing

A change of behaviour adds "saga-v6" in front of `saga_version_of_this_run()` and branches on
`self.saga_version >= 6`.

Retiring old versions follows Temporal's patching lifecycle, in two deployments:
1. Once no run started before the latest version can still be running (runs wait at most their
   review timeout, 24 h by default; check `temporal workflow list --query
   'ExecutionStatus="Running"'`): replace the `patched` calls with
   `workflow.deprecate_patch("saga-v5")`, delete the older branches, and move the older
   histories out of tests/histories/order_saga (they took branches that no longer exist, so
   they can no longer replay).
2. Once no run that recorded the "saga-v5" marker can still be running: remove the
   `deprecate_patch` call, and the v5 histories with it.
Until step 1, every stored history of every version replays (tests/replay).
"""

from __future__ import annotations

from temporalio import workflow

LATEST = 5


def saga_version_of_this_run() -> int:
    """The version this run started with, asked newest first so that a new run records one
    patch marker. Runs of v1 and v2 both answer 2: whether the zone check comes first is asked
    where v2 asked it (`zone_check_first`)."""
    if workflow.patched("saga-v5"):
        return 5
    if workflow.patched("saga-v4"):
        return 4
    if workflow.patched("status-milestones-only"):
        return 3
    return 2


def zone_check_first(saga_version: int) -> bool:
    """v2 and later check the shipping zone before holding anything (a v1 run answers False)."""
    return saga_version >= 4 or workflow.patched("check-shipping-zone-first")
