"""Custom search attributes the workflows keep current. The local stack registers every key in
ALL with the dev server; the compose stack registers them with `temporal operator`."""

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
FRAUD_DECISION = SearchAttributeKey.for_keyword("FraudDecision")

ALL: list[SearchAttributeKey] = [ORDER_STATUS, CUSTOMER_ID, FRAUD_DECISION]
