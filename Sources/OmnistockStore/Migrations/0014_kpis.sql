-- 0014: the KPI counters, per location and UTC hour, kept with the ledger.
--
-- Why: retailers steer by a handful of figures (order error rate, click & collect share,
-- order-to-ready time against the promise, no-shows, split shipments, hold conversion,
-- unified-stock availability, oversells). Each is a sum of what events add to one location's
-- hour (OmnistockCore/KPIs), so a period is read from its hours' rows instead of the ledger:
-- a year of one store is 8,760 rows at most. Writers add their events' contributions in their
-- own transaction (`+ excluded`), so commits in any order give the same sums, and `oms replay`
-- rebuilds them and `oms verify` compares them like the other projections.
--   * `kpi_counters`: one row per (location, hour) some event counted in. The level columns
--     (tracked_positions, sellable_positions, transfers_in_flight) hold changes: a level at a
--     time is the sum of every hour before it.
--   * `kpi_ready_minutes`: the order-to-ready histogram, orders per whole minute from order to
--     ready (the last minute, a week, holds every longer wait), in the hour they became ready.

CREATE TABLE kpi_counters (
    location_id                 text    NOT NULL,
    hour_ms                     bigint  NOT NULL,
    orders                      bigint  NOT NULL,
    pickup_orders               bigint  NOT NULL,
    split_orders                bigint  NOT NULL,
    lines_not_found             bigint  NOT NULL,
    orders_cancelled_for_stock  bigint  NOT NULL,
    ready_orders                bigint  NOT NULL,
    no_shows                    bigint  NOT NULL,
    holds_converted             bigint  NOT NULL,
    holds_ended                 bigint  NOT NULL,
    transfers_in_flight         bigint  NOT NULL,
    tracked_positions           bigint  NOT NULL,
    sellable_positions          bigint  NOT NULL,
    oversold_units              bigint  NOT NULL,
    PRIMARY KEY (location_id, hour_ms)
);

CREATE TABLE kpi_ready_minutes (
    location_id  text    NOT NULL,
    hour_ms      bigint  NOT NULL,
    minute       bigint  NOT NULL CHECK (minute >= 0),
    orders       bigint  NOT NULL,
    PRIMARY KEY (location_id, hour_ms, minute)
);
