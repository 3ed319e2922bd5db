-- 0016: the ledger checks expected versions itself; the table of stream versions goes.
--
-- Why: every append moved one `ledger_streams` row per stream it touched (and locked them
-- first), to compare writers' expected versions with the streams' own. The ledger can say as
-- much: a stream's versions are dense from 1 and (stream, stream_version) is unique, so an
-- append at a version the stream has passed collides, and one expected at a version it has not
-- reached finds no event there (EventStore.insert looks). Every live writer states the version
-- of each stream it appends to (the projections carry it), and appends are serialised by the
-- head row lock, so the second of two racing appenders waits, then collides. Measured on the
-- benchmark's ledger (1,000,020 events, 200,020 streams): moving 10,000 streams' rows took
-- 120-250 ms of a 10,000-line movement request (~820 ms), and reading them under lock 57 ms.
-- Instances of an earlier version read this table: stop them before this migration runs.

DROP TABLE ledger_streams;
