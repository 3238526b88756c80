"""`hybrid orders ...`: the orders' invariants, the orders whose saga ended without closing them,
and their repair."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer

from cli.console import console
from core.settings import get_settings

app = typer.Typer(
    no_args_is_help=True, help="Orders: check them, find and repair the ones left open."
)


@app.command("check")
def orders_check(
    quiet_for: Annotated[
        int, typer.Option(help="Seconds an order must be untouched to count as stuck.")
    ] = 60,
) -> None:
    """The saga's invariants over every order (stock, money, shipments), and the orders PENDING
    in PostgreSQL that no running saga will close. Exits 1 when anything is wrong."""
    from client.orders import check_orders

    health = asyncio.run(check_orders(get_settings(), timedelta(seconds=quiet_for)))
    for violation in health.violations:
        console.print(f"[red]violation[/red] {violation}", highlight=False)
    for order_id in health.stuck:
        console.print(f"[yellow]stuck[/yellow] {order_id}", highlight=False)
    console.print(
        f"{len(health.violations)} violation(s), {len(health.stuck)} stuck order(s)"
        + (": repair one with `./hybrid orders repair <id>`" if health.stuck else "")
    )
    if not health.healthy:
        raise typer.Exit(1)


@app.command("repair")
def orders_repair(
    order_id: Annotated[str, typer.Argument(help="The order (its saga's workflow id).")],
    reason: Annotated[str, typer.Option(help="Why, for the order's record.")] = (
        "its saga ended without closing it"
    ),
) -> None:
    """Undo what the order's ended saga did (refund, cancel the shipment, void, release the
    stock) and close it CANCELLED."""
    from client.orders import repair_order

    for outcome in asyncio.run(repair_order(get_settings(), order_id, reason)):
        console.print(f"{'done' if outcome.applied else 'nothing to do'}: {outcome.detail}")
