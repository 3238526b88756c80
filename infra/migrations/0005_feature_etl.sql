-- Batch feature ETL: each run reads a fixed range of offsets per partition of a topic. A run's
-- range starts where the last succeeded run of the topic ended, and a new run cannot be planned
-- while an earlier one is unfinished, so every record is processed by exactly one run; a run
-- re-executed under the same id reads the same range.
create table etl_runs (
    run_id       text primary key,
    topic        text not null,
    status       text not null default 'PLANNED'
                 check (status in ('PLANNED', 'SUCCEEDED')),
    output_path  text,
    rows_written bigint,
    planned_at   timestamptz not null default now(),
    finished_at  timestamptz
);
create unique index etl_runs_one_unfinished_per_topic on etl_runs (topic)
    where status = 'PLANNED';

create table etl_run_offsets (
    run_id       text not null references etl_runs,
    partition    int not null,
    start_offset bigint not null,
    end_offset   bigint not null check (end_offset >= start_offset),
    primary key (run_id, partition)
);
