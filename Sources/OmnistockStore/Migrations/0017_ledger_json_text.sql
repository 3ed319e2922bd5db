-- 0017: the ledger keeps each event's payload and metadata as the JSON text it was written in.
--
-- Why: as `jsonb`, every append parsed both documents into PostgreSQL's binary form and every
-- read printed them back to text (`payload::text`), though Omnistock writes and reads only
-- whole documents; the one query that looks inside a payload (the stock of a position at a past
-- time) casts the candidate rows itself. Measured on the benchmark's ledger (1,804,722 events),
-- three replays each, interleaved: the fold 5.7-6.7 s with jsonb, 5.4-5.6 s with json, whose
-- heap is 9 % smaller (688 MB against 756 MB). New events are stored as written (compact, keys
-- in the encoder's order); those written before keep jsonb's text form (a space after each
-- colon and comma, keys by length): both are the same JSON to every reader.
-- The type change rewrites the table under an exclusive lock: 15.6 s for the 1.8 million events
-- of the benchmark on two cores. Plan the pause; instances of an earlier version still work
-- (they cast their own text to jsonb, which PostgreSQL assigns to json), but stop them first.

ALTER TABLE ledger
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN metadata TYPE json USING metadata::json;
