-- Datasets imported with `hybrid stream import` (domain/fraud/dataset_import.py): what each
-- import read and rejected, and the fraud labels of its rows, kept out of band as the
-- generator's are (the detector never sees them). A label names a transaction, and a scenario
-- is free text: a dataset's own names, not only the generator's four patterns.
create table dataset_imports (
    dataset_id       text primary key,
    file_name        text not null,
    file_digest      text not null,
    topic            text not null,
    rows_read        bigint not null,
    rows_imported    bigint not null,
    rows_rejected    bigint not null,
    rejected         jsonb not null,
    fraud_rows       bigint not null,
    first_event_time timestamptz,
    last_event_time  timestamptz,
    imported_at      timestamptz not null default now()
);

create table transaction_labels (
    txn_id     text primary key,
    dataset_id text not null,
    card_id    text not null,
    event_time timestamptz not null,
    scenario   text not null
);
create index transaction_labels_dataset on transaction_labels (dataset_id, event_time);
