-- 0001: the ledger, the single source of truth.
--
-- Why: every change to stock, holds, orders, transfers and locations is an event appended here;
-- every other table is a projection that can be rebuilt from it. Three properties are enforced by
-- the database itself rather than by convention:
--   * Immutability: rows are never updated or deleted (triggers refuse it, even for superusers).
--   * Gap-free, commit-ordered positions: `ledger_head` holds the last position. Every appending
--     transaction increments it with an UPDATE, which row-locks it until commit, so positions are
--     handed out in commit order with no holes. A reader that has seen position P can never later
--     find a committed event below P (a bigserial cannot promise that: sequence order is not
--     commit order, and rolled-back inserts leave gaps).
--   * Expected versions: each stream has a version in `ledger_streams`; (stream, stream_version)
--     is unique, so two writers that raced on a stream cannot both win.

CREATE TABLE ledger (
    position        bigint      PRIMARY KEY CHECK (position > 0),
    stream          text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    type            text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    -- The locations an event concerns, so a feed can be scoped to an API key's locations.
    location_ids    text[]      NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, stream_version)
);

CREATE INDEX ledger_type_position ON ledger (type, position);
CREATE INDEX ledger_location_ids ON ledger USING gin (location_ids);

CREATE TABLE ledger_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position   bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO ledger_head (singleton, position) VALUES (true, 0);

CREATE TABLE ledger_streams (
    stream   text   PRIMARY KEY,
    version  bigint NOT NULL CHECK (version > 0)
);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
-- The head only ever moves forward.
CREATE FUNCTION ledger_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.position < OLD.position THEN
        RAISE EXCEPTION 'the ledger head only moves forward (% -> %)', OLD.position, NEW.position
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_head_forward BEFORE UPDATE ON ledger_head
    FOR EACH ROW EXECUTE FUNCTION ledger_head_forward_only();
CREATE TRIGGER ledger_head_no_delete BEFORE DELETE OR TRUNCATE ON ledger_head
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
