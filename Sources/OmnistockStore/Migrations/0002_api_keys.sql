-- 0002: API keys.
--
-- Why: every /v1 call is made with a bearer key that carries a role and, for store and
-- integration keys, the locations it may act on. Only a SHA-256 hash of the secret is stored:
-- keys are 256-bit random values, so a fast hash is enough (there is nothing to brute-force),
-- and a leaked table does not leak usable keys. Keys are revoked, never deleted, so the actor
-- recorded in old ledger events keeps its meaning. Keys are not ledger events: they are security
-- records, and the ledger is served to integrations.

CREATE TABLE api_keys (
    id            text        PRIMARY KEY,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'checkout', 'store', 'integration')),
    -- NULL means every location; otherwise the bound locations.
    location_ids  text[],
    secret_sha256 bytea       NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text,
    revoked_at    timestamptz,
    CHECK (role <> 'store' OR cardinality(location_ids) > 0),
    CHECK (role NOT IN ('admin', 'checkout') OR location_ids IS NULL)
);
