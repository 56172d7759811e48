-- Issue 15: a delivery claim names its holder. Every claim (a fresh insert, or a reclaim after
-- the visibility timeout) gets a new random token; the worker's heartbeat extends visible_at
-- and its mark_sent / mark_failed / mark_retry succeed only with the token it was given, so a
-- worker whose claim was retaken can't record over the new holder.
ALTER TABLE journey_deliveries ADD COLUMN claim_token uuid DEFAULT gen_random_uuid();
