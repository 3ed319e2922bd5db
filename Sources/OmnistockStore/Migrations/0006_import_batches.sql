-- 0006: the batches of CSV imports already applied.
--
-- Why: `oms import` must be idempotent when run twice on the same file, however much later.
-- Idempotency keys expire (they cover client retries); this log does not. Each batch is claimed
-- here in the same transaction as its events, so a second run, even a concurrent one, skips
-- what the first applied. Rows are tiny (one per 10,000 lines) and kept.

CREATE TABLE import_batches (
    file_sha256  text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('movements', 'counts')),
    batch        integer     NOT NULL CHECK (batch >= 0),
    events       integer     NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_sha256, kind, batch)
);
