-- 0012: webhook subscriptions and their delivery log.
--
-- Why: integrations want to be told, not to poll. The ledger is already a gap-free,
-- commit-ordered outbox, so a subscription needs no queue of its own: only a cursor into the
-- ledger (the last position delivered or passed over), its retry state, and a lease saying
-- which instance delivers it (one at a time, so events go out one by one in ledger order).
--   * `webhook_subscriptions`: one row per subscription. `secret` signs deliveries
--     (Standard Webhooks: HMAC-SHA256 with the key itself, so it is stored as given, not as a
--     hash; the table is as sensitive as the receivers' endpoints). After a rotation
--     `previous_secret` signs beside it until `previous_secret_expires_at`. `generation` is
--     bumped by every change made through the API (rotate, redeliver, resume), so the
--     delivering instance reloads the row rather than write a cursor over a replay.
--     `lease_owner`/`lease_until` is the lease: an instance claims rows whose lease ran out
--     (its holder died) and renews its own; every write of delivery progress names the owner,
--     so an instance that lost its lease cannot move a cursor another now owns.
--   * `webhook_deliveries`: the recent attempts of each subscription (the newest
--     `Limits.webhookDeliveriesKeptMax` are kept), for `GET /v1/webhooks/{id}/deliveries`.
-- Neither is in the ledger: subscriptions are configuration with secrets, not stock facts, and
-- the ledger is served to the integrations themselves.

CREATE TABLE webhook_subscriptions (
    id                         text        PRIMARY KEY,
    url                        text        NOT NULL CHECK (length(url) <= 2048),
    event_types                text[],
    location_ids               text[],
    description                text,
    status                     text        NOT NULL CHECK (status IN ('active', 'disabled')),
    disabled_reason            text        CHECK (disabled_reason IN ('gone', 'retries_exhausted')),
    secret                     text        NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    created_by                 text        NOT NULL,
    cursor                     bigint      NOT NULL CHECK (cursor >= 0),
    failed_attempts            integer     NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    next_attempt_at            timestamptz,
    generation                 bigint      NOT NULL DEFAULT 0,
    lease_owner                text,
    lease_until                timestamptz,
    CHECK ((status = 'disabled') = (disabled_reason IS NOT NULL))
);

CREATE TABLE webhook_deliveries (
    id              bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id text             NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    position        bigint           NOT NULL,
    attempt         integer          NOT NULL CHECK (attempt >= 1),
    outcome         text             NOT NULL
        CHECK (outcome IN ('delivered', 'retrying', 'rejected', 'gone', 'refused_target')),
    status_code     integer,
    duration_ms     double precision NOT NULL,
    error           text,
    next_retry_at   timestamptz,
    attempted_at    timestamptz      NOT NULL
);

CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (subscription_id, id DESC);
