-- 0007: when each position was last counted.
--
-- Why: a movement that occurred before a count but is recorded after it (a point-of-sale upload
-- running late) was already seen by that count; applying it again would count it twice. The
-- core compares a movement's occurredAt with the position's latest countedAt and records a
-- correction for such movements. The column is part of the projection (NULL: never counted) and
-- is rebuilt from `stock.counted` events like every other bucket.

ALTER TABLE stock_positions ADD COLUMN last_counted_at_ms bigint;
