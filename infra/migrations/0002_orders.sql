-- The order saga's state. Every step is keyed on the order id so that a retried activity finds
-- what an earlier attempt did, and a compensation that runs before its step leaves a tombstone
-- (a RELEASED / VOIDED / CANCELLED / REFUNDED row) that stops a late attempt of the step.

create table customers (
    customer_id  text primary key,
    name         text not null,
    home_country char(2) not null,
    created_at   timestamptz not null default now()
);

create table inventory (
    sku           text primary key,
    description   text not null,
    unit_price    numeric(12, 2) not null check (unit_price > 0),
    on_hand       integer not null check (on_hand >= 0),
    reserved      integer not null default 0 check (reserved >= 0),
    max_per_order integer not null default 100 check (max_per_order > 0),
    check (reserved <= on_hand)
);

create table shipping_zones (
    country char(2) primary key,
    carrier text not null
);

create table orders (
    order_id       text primary key,
    customer_id    text not null,
    card_id        text not null,
    currency       char(3) not null,
    total          numeric(12, 2) not null,
    status         text not null default 'PENDING'
                   check (status in ('PENDING', 'COMPLETED', 'REJECTED', 'CANCELLED', 'FAILED')),
    status_reason  text,
    fraud_decision text,
    client_country char(2),
    client_ip      inet,
    device_id      text,
    ship_country   char(2) not null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index orders_customer on orders (customer_id, status);
create index orders_card on orders (card_id);

create table order_items (
    order_id   text not null references orders (order_id),
    line       integer not null,
    sku        text not null,
    quantity   integer not null check (quantity > 0),
    unit_price numeric(12, 2) not null,
    primary key (order_id, line)
);

-- one reservation per order; lines hold the quantities per SKU
create table reservations (
    order_id   text primary key references orders (order_id),
    status     text not null check (status in ('ACTIVE', 'RELEASED', 'CONSUMED')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table reservation_lines (
    order_id text not null references reservations (order_id),
    sku      text not null references inventory (sku),
    quantity integer not null check (quantity > 0),
    primary key (order_id, sku)
);

create table payments (
    order_id          text primary key references orders (order_id),
    card_id           text not null,
    amount            numeric(12, 2) not null,
    currency          char(3) not null,
    status            text not null
                      check (status in ('AUTHORIZED', 'DECLINED', 'VOIDED', 'CAPTURED', 'REFUNDED')),
    authorization_ref text,
    capture_ref       text,
    refund_ref        text,
    void_ref          text,
    decline_reason    text,
    updated_at        timestamptz not null default now()
);

create table shipments (
    order_id    text primary key references orders (order_id),
    status      text not null check (status in ('CREATED', 'CANCELLED')),
    carrier     text,
    tracking_no text,
    updated_at  timestamptz not null default now()
);

-- The simulated payment provider's own ledger: an external system in real life, so it has its
-- own table and its own transactions. One row per idempotency key, like a real provider.
create table provider_operations (
    idempotency_key text primary key,
    operation       text not null check (operation in ('authorize', 'capture', 'void', 'refund')),
    order_id        text not null,
    card_id         text not null,
    amount          numeric(12, 2) not null,
    outcome         text not null check (outcome in ('approved', 'declined')),
    reference       text not null,
    decline_reason  text,
    created_at      timestamptz not null default now()
);
create index provider_operations_order on provider_operations (order_id);

-- Fraud alerts: written by the streaming detector (and by tests and the demo), read by the
-- saga's fraud screen.
create table fraud_alerts (
    alert_id    text primary key,
    card_id     text not null,
    customer_id text,
    pattern     text not null,
    evidence    jsonb not null default '{}',
    event_time  timestamptz not null,
    detected_at timestamptz not null default now(),
    status      text not null default 'OPEN' check (status in ('OPEN', 'CLOSED'))
);
create index fraud_alerts_card on fraud_alerts (card_id) where status = 'OPEN';
create index fraud_alerts_customer on fraud_alerts (customer_id) where status = 'OPEN';

-- Append-only audit log of the saga: every step, compensation and decision.
create table saga_events (
    event_id   bigint generated always as identity primary key,
    order_id   text not null,
    step       text not null,
    event      text not null,
    detail     jsonb not null default '{}',
    created_at timestamptz not null default now(),
    unique (order_id, step, event)
);

create function saga_events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'saga_events is append-only';
end $$;
create trigger saga_events_no_update before update or delete on saga_events
    for each statement execute function saga_events_append_only();
