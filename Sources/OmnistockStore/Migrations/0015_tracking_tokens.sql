-- 0015: tracking tokens, the capability links of the customer's order tracking page.
--
-- Why: every order gets a link (`/track/{token}`) that shows that order and nothing else to
-- whoever holds it, without an API key. The token (256 random bits) is shown once, in the
-- answer that creates the order; only its SHA-256 is kept, so a copy of the database gives no
-- working link. Like `pickup_codes`, this is a secret and not a fact for the feed: it is not in
-- the ledger (which integrations read), it is written in the transaction that creates the
-- order, and `oms replay` neither empties nor rebuilds it.
--   * `revoked_at_ms`: set when the retailer revokes the order's links (a new one is issued in
--     the same transaction); a revoked token is kept, so it answers 404 like an unknown one.
--   * The index by order serves revocation (the live tokens of one order).

CREATE TABLE tracking_tokens (
    token_hash     bytea   PRIMARY KEY,
    order_id       text    NOT NULL,
    created_at_ms  bigint  NOT NULL,
    revoked_at_ms  bigint
);

CREATE INDEX tracking_tokens_live_by_order ON tracking_tokens (order_id) WHERE revoked_at_ms IS NULL;
