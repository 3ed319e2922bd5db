-- 0004: the locations projection.
--
-- Why: stores and warehouses are read on every availability and sourcing decision, so their
-- current definition is kept as a row, written in the same transaction as the `location.defined`
-- event that it summarises (and rebuildable from the ledger). `version` is the stream version of
-- the last event applied.

CREATE TABLE locations (
    id                  text             PRIMARY KEY,
    name                text             NOT NULL,
    kind                text             NOT NULL CHECK (kind IN ('store', 'warehouse')),
    latitude            double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude           double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    pickup              boolean          NOT NULL,
    ships               boolean          NOT NULL,
    daily_capacity      bigint           NOT NULL CHECK (daily_capacity >= 0),
    priority            bigint           NOT NULL,
    pickup_window_days  bigint           NOT NULL CHECK (pickup_window_days > 0),
    active              boolean          NOT NULL,
    version             bigint           NOT NULL CHECK (version > 0),
    created_at          timestamptz      NOT NULL,
    updated_at          timestamptz      NOT NULL
);
