-- 0009: checkout holds, as projections of the ledger's hold streams.
--
-- Why: the ledger holds the truth (hold.placed, hold.extended, hold.released, hold.expired);
-- these tables are what the hot path and readers need without replaying it:
--   * `holds`: one row per hold with its lines, for GET /v1/holds/{id}, extension and release.
--     Lines are parallel arrays (line n is element n), which the driver decodes in one go.
--   * `active_hold_lines`: the lines of holds not yet recorded as ended, with their expiry.
--     A hold stops counting at its expiry even before the sweeper records it, so deciders and
--     readers subtract the lines whose expiry has passed from a position's `held`; the index
--     on (sku, location_id, expires_at_ms) finds them with one probe per position. Rows leave
--     when the hold ends, so the table stays as small as the number of live holds.
--   * The partial index on holds' expiry is how the sweeper finds what is due.
-- Both are written in the same transaction as the hold events, and rebuilt by `oms replay`.

CREATE TABLE holds (
    id               text        PRIMARY KEY,
    status           text        NOT NULL CHECK (status IN ('active', 'released', 'expired', 'converted')),
    reference        text,
    -- The fulfilment as JSON text ({"type":"pickup",...}), NULL when the lines named locations.
    fulfilment       text,
    allow_partial    boolean     NOT NULL,
    line_skus        text[]      NOT NULL,
    line_locations   text[]      NOT NULL,
    line_quantities  bigint[]    NOT NULL,
    -- Lines a partial hold could not serve, as JSON text; '[]' when none.
    unfilled         text        NOT NULL,
    placed_at_ms     bigint      NOT NULL,
    expires_at_ms    bigint      NOT NULL CHECK (expires_at_ms > placed_at_ms),
    ended_at_ms      bigint,
    -- When the last event was decided, from the events themselves (not the ledger's
    -- recorded_at), so the row is written before the events are appended, and the ledger
    -- head is held only for the append and the commit.
    updated_at_ms    bigint      NOT NULL,
    version          bigint      NOT NULL CHECK (version > 0),
    CHECK (cardinality(line_skus) > 0
           AND cardinality(line_skus) = cardinality(line_locations)
           AND cardinality(line_skus) = cardinality(line_quantities)),
    CHECK ((status = 'active') = (ended_at_ms IS NULL))
);

CREATE INDEX holds_due ON holds (expires_at_ms) WHERE status = 'active';

CREATE TABLE active_hold_lines (
    hold_id        text    NOT NULL,
    line_no        integer NOT NULL,
    sku            text    NOT NULL,
    location_id    text    NOT NULL,
    quantity       bigint  NOT NULL CHECK (quantity > 0),
    expires_at_ms  bigint  NOT NULL,
    PRIMARY KEY (hold_id, line_no)
);

CREATE INDEX active_hold_lines_position ON active_hold_lines (sku, location_id, expires_at_ms);
