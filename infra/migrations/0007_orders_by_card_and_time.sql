-- The champion's features read a card's orders of the last 24 hours and aggregates over all of
-- them: one index serves both, in order of time (it replaces the index on the card alone).
create index orders_card_created on orders (card_id, created_at);
drop index orders_card;
