-- 0011: a location's daily capacity may be absent.
--
-- Why: `dailyCapacity` was required on every location, even a warehouse that has no such
-- limit, so integrations sent made-up figures. Absent now means no daily limit: sourcing never
-- reports `capacity-reached` for the location, and its orders are neither locked on its row nor
-- counted against it. The column is NULL for such a location (the CHECK still holds for every
-- given capacity); rows written before keep their figure, and `location.defined` events that
-- carry a capacity still mean it, so a rebuild gives the same rows.

ALTER TABLE locations ALTER COLUMN daily_capacity DROP NOT NULL;
