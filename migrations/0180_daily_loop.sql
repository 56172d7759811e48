-- The daily loop (issue 10): taking, not sending, advances a learner; unopened cards back off;
-- a farewell after four weeks of silence; per-course pause and leave.

CREATE TYPE delivery_kind AS ENUM ('card', 'farewell');
ALTER TABLE journey_deliveries ADD COLUMN kind delivery_kind NOT NULL DEFAULT 'card';
-- The delivery through which the learner took its journey (at most one per journey).
ALTER TABLE journey_deliveries ADD COLUMN taken_at timestamptz;
CREATE INDEX journey_deliveries_cu_date_idx
    ON journey_deliveries (course_user_id, local_date DESC);

-- The local date the last new journey was taken (seed 000's one-per-day rule, kept as a date
-- so a change of time zone can't make one local day count twice).
ALTER TABLE course_users ADD COLUMN last_taken_on date;
ALTER TABLE course_users ADD COLUMN lapsed_at timestamptz;  -- farewell sent; cards stopped
ALTER TABLE course_users ADD COLUMN paused_at timestamptz;  -- /pause <course>
ALTER TABLE course_users ADD COLUMN left_at timestamptz;    -- /leave <course>; progress kept
-- The course a typed question is about, for learners in several courses (/course <slug>).
ALTER TABLE course_users ADD COLUMN chosen_at timestamptz;

-- A failed quiz's "you can retake it now" message goes out once per cooldown.
ALTER TABLE module_progress ADD COLUMN retake_nudged_at timestamptz;

-- Learners who took journeys under the old rule (advance on send) keep them: mark one
-- delivery per taken journey as the taking one.
UPDATE journey_deliveries d SET taken_at = coalesce(d.opened_at, d.sent_at, d.claimed_at)
WHERE d.id IN (
    SELECT DISTINCT ON (d2.course_user_id, d2.journey_id) d2.id
    FROM journey_deliveries d2
    JOIN course_users cu ON cu.id = d2.course_user_id
    JOIN journeys j ON j.id = d2.journey_id
    WHERE j.priority <= coalesce(cu.last_priority, -2147483648)
    ORDER BY d2.course_user_id, d2.journey_id, d2.local_date
);
