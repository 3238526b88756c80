"""The order saga's invariants over PostgreSQL, checked by the tests and by the demo.

For every order in a terminal state:
- COMPLETED: stock consumed, payment captured exactly once (and not refunded), one shipment;
- REJECTED / CANCELLED / FAILED: no active reservation, no money held or taken (every approved
  authorization voided or captured-and-refunded), no active shipment.
Always: inventory never negative, reserved stock equals the sum of active reservations.

Each check is one query returning the offending rows; the result is a list of violations, each
naming the order or SKU, so an empty list means the database is consistent.
"""

from __future__ import annotations

from core.db.connections import connect

CHECKS: dict[str, str] = {
    "completed order without consumed stock": """
        select o.order_id from orders o left join reservations r using (order_id)
        where o.status = 'COMPLETED' and r.status is distinct from 'CONSUMED'""",
    "completed order not captured exactly once": """
        select o.order_id from orders o
        where o.status = 'COMPLETED' and (
            (select count(*) from provider_operations p
              where p.order_id = o.order_id and p.operation = 'capture'
                and p.outcome = 'approved') <> 1
            or exists (select 1 from provider_operations p
              where p.order_id = o.order_id and p.operation = 'refund')
            or (select status from payments p where p.order_id = o.order_id)
               is distinct from 'CAPTURED')""",
    "completed order without exactly one shipment": """
        select o.order_id from orders o left join shipments s using (order_id)
        where o.status = 'COMPLETED' and s.status is distinct from 'CREATED'""",
    "closed order with an active reservation": """
        select o.order_id from orders o join reservations r using (order_id)
        where o.status in ('REJECTED', 'CANCELLED', 'FAILED') and r.status = 'ACTIVE'""",
    "closed order with money held (authorization neither voided nor captured)": """
        select o.order_id from orders o
        join provider_operations a on a.order_id = o.order_id
             and a.operation = 'authorize' and a.outcome = 'approved'
        where o.status in ('REJECTED', 'CANCELLED', 'FAILED')
          and not exists (select 1 from provider_operations v where v.order_id = o.order_id
                          and v.operation in ('void', 'capture') and v.outcome = 'approved')""",
    "closed order with money taken (capture not refunded)": """
        select o.order_id from orders o
        join provider_operations c on c.order_id = o.order_id
             and c.operation = 'capture' and c.outcome = 'approved'
        where o.status in ('REJECTED', 'CANCELLED', 'FAILED')
          and not exists (select 1 from provider_operations r where r.order_id = o.order_id
                          and r.operation = 'refund' and r.outcome = 'approved')""",
    "closed order with an active shipment": """
        select o.order_id from orders o join shipments s using (order_id)
        where o.status in ('REJECTED', 'CANCELLED', 'FAILED') and s.status = 'CREATED'""",
    "payment recorded as held on a closed order": """
        select o.order_id from orders o join payments p using (order_id)
        where o.status in ('REJECTED', 'CANCELLED', 'FAILED')
          and p.status in ('AUTHORIZED', 'CAPTURED')""",
    "inventory negative or over-reserved": """
        select sku from inventory where on_hand < 0 or reserved < 0 or reserved > on_hand""",
    "reserved stock differs from the active reservations": """
        select i.sku from inventory i
        left join (select l.sku, sum(l.quantity) as quantity from reservation_lines l
                   join reservations r using (order_id) where r.status = 'ACTIVE'
                   group by l.sku) a using (sku)
        where i.reserved <> coalesce(a.quantity, 0)""",
}


def check_order_invariants(dsn: str, order_ids: list[str] | None = None) -> list[str]:
    """Violations of the invariants (empty when consistent), optionally only for some orders.

    The inventory checks always cover every SKU."""
    violations = []
    with connect(dsn) as conn:
        for name, query in CHECKS.items():
            rows = [row[0] for row in conn.execute(query).fetchall()]
            if order_ids is not None and not name.startswith(("inventory", "reserved")):
                wanted = set(order_ids)
                rows = [row for row in rows if row in wanted]
            violations += [f"{name}: {row}" for row in rows]
    return violations
