-- 0018: leave room in Idempotency-Key pages for the answer written after the claim.
--
-- Why: every keyed write inserts its key row empty (the claim) and, milliseconds later in the
-- same transaction, updates it with the stored answer, about five times the claim's size. The
-- update leaves the indexed columns alone, so it can stay in its page without new index entries
-- (a HOT update) when the page has room for it; with full pages, 27% of these updates were HOT
-- under the hold load. Applies to pages written from now on.

ALTER TABLE idempotency_keys SET (fillfactor = 50);
