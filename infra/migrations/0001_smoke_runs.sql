-- One row per smoke workflow run: proves the worker reaches PostgreSQL, idempotent on the run.
create table smoke_runs (
    workflow_id text primary key,
    message     text not null,
    attempts    integer not null default 1,
    created_at  timestamptz not null default now()
);
