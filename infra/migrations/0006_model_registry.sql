-- The model registry: immutable model versions with their metrics and lineage, and per model
-- name the aliases (champion, challenger, previous) that point at them. Aliases move only
-- through recorded changes, so a promotion can be rolled back to exactly what it replaced.
create table model_versions (
    version_id     text primary key,
    model_name     text not null,
    artifact_path  text not null,
    metrics        jsonb not null,
    etl_run_ids    text[] not null,
    etl_offsets    jsonb not null,  -- {run_id: {partition: [start, end)}}
    code_version   text not null,
    training_job   text not null,   -- the Ray submission id
    created_at     timestamptz not null default now()
);

create function model_versions_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'model version % is immutable: register a new version instead',
        old.version_id;
end $$;
create trigger model_versions_immutable before update or delete on model_versions
    for each row execute function model_versions_are_immutable();

create table model_aliases (
    model_name  text not null,
    alias       text not null check (alias in ('champion', 'challenger', 'previous')),
    version_id  text not null references model_versions,
    updated_at  timestamptz not null default now(),
    primary key (model_name, alias)
);

create table model_alias_changes (
    change_id       text primary key,  -- deterministic: a retried change is applied once
    model_name      text not null,
    reason          text not null,
    aliases_before  jsonb not null,
    aliases_after   jsonb not null,
    changed_at      timestamptz not null default now(),
    rolled_back_at  timestamptz
);

-- Spark applications and Ray jobs started by workflows: their deterministic submission id, the
-- outcome, and the end of their log, kept after the engine has forgotten them.
create table engine_jobs (
    submission_id  text primary key,
    engine         text not null check (engine in ('spark', 'ray')),
    workflow_id    text not null,
    status         text not null,
    log_tail       text not null default '',
    started_at     timestamptz not null default now(),
    finished_at    timestamptz
);
