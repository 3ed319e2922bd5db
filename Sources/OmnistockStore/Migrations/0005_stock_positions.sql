-- 0005: stock positions, and each location's default safety stock.
--
-- Why: availability is read on every product page and checkout, so each (sku, location) keeps
-- its current buckets as a row, written in the same transaction as the stock events that change
-- it (and rebuildable from the ledger). The primary key leads with the SKU because availability
-- asks "where is this SKU", and every writer locks rows in (sku, location_id) order, so
-- concurrent batches cannot deadlock. `safety_stock` NULL means "the location's default".
-- Quantities are bounded by CHECKs: the domain refuses anything that would break them, so a
-- violation here is a bug, and the transaction fails rather than storing it.

ALTER TABLE locations ADD COLUMN safety_stock_default bigint NOT NULL DEFAULT 0
    CHECK (safety_stock_default >= 0);

CREATE TABLE stock_positions (
    sku           text        NOT NULL,
    location_id   text        NOT NULL REFERENCES locations (id),
    on_hand       bigint      NOT NULL CHECK (on_hand >= 0),
    held          bigint      NOT NULL DEFAULT 0 CHECK (held >= 0),
    allocated     bigint      NOT NULL DEFAULT 0 CHECK (allocated >= 0),
    safety_stock  bigint      CHECK (safety_stock >= 0),
    incoming      bigint      NOT NULL DEFAULT 0 CHECK (incoming >= 0),
    -- The version of the position's ledger stream; 0 only inside the transaction that creates
    -- the row to lock it (it always commits with events, or not at all).
    version       bigint      NOT NULL CHECK (version >= 0),
    PRIMARY KEY (sku, location_id)
);

-- Full counts and per-location listings read a location's positions.
CREATE INDEX stock_positions_location ON stock_positions (location_id, sku);
