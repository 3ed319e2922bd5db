-- 0010: orders, transfers, daily order counts per location, and pickup codes.
--
-- Why: orders and transfers are streams of the ledger (order.*, transfer.*); these tables are
-- their projections, written in the same transaction as their events and rebuilt by
-- `oms replay`:
--   * `orders`: one row per order. `document` is the order as the last event left it (JSON
--     with sorted keys, so a rebuild writes the same text); the other columns are what is
--     searched: the order number and hold (each converts once), the store queue (by location,
--     status, then age) and the no-show sweeper (ready orders by pickup deadline).
--   * `transfers`: one row per transfer, likewise.
--   * `order_assignments`: one row per order and location it was given to, by UTC day (days
--     since 1970): counted against the location's daily capacity by sourcing. Rows, not a
--     counter per location and day: every order of a busy store would otherwise update the
--     same row and queue on its lock until commit.
--   * `pickup_codes`: the SHA-256 of each pickup order's code. It is a secret, not a fact for
--     the feed, so it is not in the ledger (which integrations read): it is written once, in
--     the transaction that creates the order, and never rebuilt.
-- A transfer may give `incoming` to a position whose stream has no event yet (the first time
-- a store gets a SKU): such a row keeps version 0 until the goods arrive and are recorded.

CREATE TABLE orders (
    id                   text    PRIMARY KEY,
    order_number         text    NOT NULL UNIQUE,
    hold_id              text    UNIQUE,
    status               text    NOT NULL
        CHECK (status IN ('allocated', 'picking', 'ready', 'collected', 'shipped', 'cancelled', 'expired')),
    location_ids         text[]  NOT NULL,
    created_at_ms        bigint  NOT NULL,
    pickup_expires_at_ms bigint,
    document             text    NOT NULL,
    version              bigint  NOT NULL CHECK (version > 0)
);

CREATE INDEX orders_locations ON orders USING gin (location_ids);
CREATE INDEX orders_age ON orders (created_at_ms, id);
CREATE INDEX orders_pickup_due ON orders (pickup_expires_at_ms) WHERE status = 'ready';

CREATE TABLE transfers (
    id                text    PRIMARY KEY,
    status            text    NOT NULL CHECK (status IN ('in-transit', 'received')),
    from_location_id  text    NOT NULL,
    to_location_id    text    NOT NULL,
    order_id          text,
    document          text    NOT NULL,
    version           bigint  NOT NULL CHECK (version > 0)
);

CREATE TABLE order_assignments (
    location_id  text    NOT NULL,
    day          bigint  NOT NULL,
    order_id     text    NOT NULL,
    PRIMARY KEY (location_id, day, order_id)
);

CREATE TABLE pickup_codes (
    order_id   text   PRIMARY KEY,
    code_hash  bytea  NOT NULL
);
