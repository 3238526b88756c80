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
    cep_alerts_24h                                  CEP alerts on the card in the 24 h before
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
    "cep_alerts_24h",
]
# the ground truth the ETL joins to each row, for training and evaluation
LABEL = "is_fraud"
