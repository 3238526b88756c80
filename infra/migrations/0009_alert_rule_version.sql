-- The version of the rule set that fired each alert (the fused detector's rules change live;
-- alerts from before versions have 0).
alter table fraud_alerts add column rule_version bigint not null default 0;
