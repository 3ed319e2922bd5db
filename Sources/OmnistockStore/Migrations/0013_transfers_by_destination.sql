-- 0013: transfers found by their destination and status.
--
-- Why: a store's screen lists the transfers on their way to it (`GET /v1/transfers?toLocationId=…
-- &status=in-transit`), paged in id order. Without this index that listing reads every transfer
-- ever made; with it, only the store's own rows of the status asked, in the page's order.

CREATE INDEX transfers_by_destination ON transfers (to_location_id, status, id);
