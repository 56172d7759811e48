-- The delivery claim (issue 14, storage/deliveries.py `_CLAIM_SQL`) at a million learners.
--
-- `journey_deliveries_cu_date_idx` (course_user_id, local_date DESC) is the unique key
-- (course_user_id, local_date) read backwards: a B-tree scans either way, so every query it
-- served is served by the key, and each claimed card paid for one more random index insert
-- (and its WAL and full-page images) for nothing.
DROP INDEX IF EXISTS journey_deliveries_cu_date_idx;

-- The claim's queue: only learners a claim can take. The old index also held paused, left
-- and lapsed course-users; a paused learner keeps `next_due_at` (resuming picks the schedule
-- up again), never moves, and so sat at the head of the index for every batch to step over.
CREATE INDEX course_users_claimable_due_idx ON course_users (next_due_at)
    WHERE next_due_at IS NOT NULL AND completed_at IS NULL AND lapsed_at IS NULL
      AND paused_at IS NULL AND left_at IS NULL;
DROP INDEX IF EXISTS course_users_due_idx;
