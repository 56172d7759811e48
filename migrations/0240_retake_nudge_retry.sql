-- A "you can retake the quiz now" whose send failed on the network or a 5xx is tried again
-- after a back-off instead of being lost: the failed attempt gives the claim back
-- (retake_nudged_at = NULL) and sets when the next may start.
ALTER TABLE module_progress ADD COLUMN retake_nudge_retry_at timestamptz;
