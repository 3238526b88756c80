-- Streaming fraud detection: the generator's ground truth (never read by the detector) and the
-- CEP job's alerts as ingested from Kafka.

create table fraud_labels (
    scenario_id      text primary key,
    run_id           text not null,
    pattern          text not null,
    card_id          text not null,
    txn_ids          text[] not null,
    first_event_time timestamptz not null,
    last_event_time  timestamptz not null
);
create index fraud_labels_run on fraud_labels (run_id);
create index fraud_labels_card on fraud_labels (card_id);

alter table fraud_alerts
    add column first_event_time timestamptz,
    add column cep_detected_at  timestamptz,
    add column written_at       timestamptz not null default clock_timestamp();
alter table fraud_alerts alter column evidence type text using evidence::text;
alter table fraud_alerts alter column evidence set default '';
