-- A model version's evaluation on its test period (domain/pipeline/evaluation.py): the split
-- (training, the label delay left out, the test days with known compromised cards removed) and,
-- for the candidate, both baselines and the champion of the day, AUC ROC, average precision,
-- card precision@k, precision and recall at the alert budget, and recall per scenario. Versions
-- registered before it have none.
alter table model_versions add column evaluation jsonb;
