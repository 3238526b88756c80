"""The fraud model's features: the one list that the Spark ETL computes, the training job learns
from and the order saga's screen computes for an order. The activities pass it to both jobs
(`--features`); the jobs cannot import it (they run inside the engines), so each keeps the list of
what it can compute, and a unit test fails when one of them drifts from this one.

Per card transaction, over the card's earlier transactions and this one:

    amount
    txn_count_5m, txn_count_1h, txn_count_24h       transactions in the window
    amount_sum_1h, amount_avg_24h, amount_max_24h, amount_std_24h
    distinct_countries_24h, distinct_merchants_24h
    seconds_since_prev                              -1 for the card's first transaction
    amount_vs_history                               amount / mean of the card's earlier amounts
    txn_count_7d, txn_count_30d, amount_avg_7d, amount_avg_30d   spending baselines
    amount_vs_avg_24h, amount_vs_avg_7d, amount_vs_avg_30d       the amount against them
    hour_of_day, is_night, is_weekend               of the event time in UTC; night is 0-5 h
    cep_alerts_24h                                  CEP alerts on the card in the 24 h before

Per merchant, with labels that arrive `label_delay_days` late (Settings.fraud_label_delay_days,
7 by default; the ETL's --label-delay-days):

    merchant_txn_count_{1d,7d,30d}   the merchant's transactions over the 1, 7 and 30 whole UTC
    merchant_risk_{1d,7d,30d}        days ending the delay before the transaction's day, and
                                     the fraud share among them (0 without any)

An order in the shop has no merchant in the card stream: its merchant features are 0, as for a
merchant with no history (domain.pipeline.scoring.order_features).
"""

FEATURES: list[str] = [
    "amount",
    "txn_count_5m",
    "txn_count_1h",
    "txn_count_24h",
    "amount_sum_1h",
    "amount_avg_24h",
    "amount_max_24h",
    "amount_std_24h",
    "distinct_countries_24h",
    "distinct_merchants_24h",
    "seconds_since_prev",
    "amount_vs_history",
    "txn_count_7d",
    "txn_count_30d",
    "amount_avg_7d",
    "amount_avg_30d",
    "amount_vs_avg_24h",
    "amount_vs_avg_7d",
    "amount_vs_avg_30d",
    "hour_of_day",
    "is_night",
    "is_weekend",
    "merchant_txn_count_1d",
    "merchant_txn_count_7d",
    "merchant_txn_count_30d",
    "merchant_risk_1d",
    "merchant_risk_7d",
    "merchant_risk_30d",
    "cep_alerts_24h",
]
MERCHANT_FEATURES = [name for name in FEATURES if name.startswith("merchant_")]
# the ground truth the ETL joins to each row, for training and evaluation
LABEL = "is_fraud"
