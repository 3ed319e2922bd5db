-- 0003: stored answers to idempotent requests.
--
-- Why: a retried POST with the same Idempotency-Key must get the same answer and change nothing
-- more (rule 3). The key row is inserted in the same transaction as the request's effect, so two
-- requests with the same key arriving together cannot both execute: the second waits on the
-- unique index until the first commits, then reads its answer. Rows expire after a retention
-- period and are swept in bounded batches, which bounds the table.

CREATE TABLE idempotency_keys (
    api_key_id      text        NOT NULL,
    key             text        NOT NULL,
    request_sha256  bytea       NOT NULL,
    status          integer     NOT NULL,
    response_body   bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
