-- An ETL run that cannot succeed is FAILED (its job failed for good) or ABANDONED (by an
-- operator, `./hybrid etl abandon`): it no longer blocks its topic, and the next run reads its
-- range again, since a run starts where the last SUCCEEDED one ended.
alter table etl_runs drop constraint etl_runs_status_check;
alter table etl_runs add constraint etl_runs_status_check
    check (status in ('PLANNED', 'SUCCEEDED', 'FAILED', 'ABANDONED'));
alter table etl_runs add column failure text;

-- The Temporal run that recorded the order: a later run of the same order id finds the order
-- recorded by another run, and returns its outcome instead of selling it twice.
alter table orders add column run_id text;
