-- The delivery claim (issue 14) at a million learners: the schedule gets a narrow table of
-- its own.
--
-- The claim moves every claimed learner's `next_due_at` on. While it was a column of
-- `course_users` and indexed there, that update could never be HOT: each claimed row wrote
-- a new tuple version into all five `course_users` indexes (four of them keyed on random
-- uuids or text), and that was nearly half the claim's time. Here a claimed row's new
-- version goes into two small indexes: the primary key and the claim's queue.
--
-- A row exists while the course-user is scheduled: never for a completed, lapsed or left
-- one (the triggers below delete it when `course_users` says so, and refuse one written for
-- such a course-user). A course-paused learner keeps the row, so /progress still shows the
-- next journey, with `paused` set: the claim's queue holds only the rows a claim can take.
-- `paused` mirrors `course_users.paused_at`; the triggers keep the two in step.
CREATE TABLE course_user_schedule (
    course_user_id  uuid PRIMARY KEY REFERENCES course_users (id) ON DELETE CASCADE,
    next_due_at     timestamptz NOT NULL,
    paused          boolean NOT NULL DEFAULT false
);

-- Existing course-users keep their schedule (the old claim took exactly these rows when
-- unpaused: a completed, lapsed or left learner was never claimed).
INSERT INTO course_user_schedule (course_user_id, next_due_at, paused)
SELECT id, next_due_at, paused_at IS NOT NULL FROM course_users
WHERE next_due_at IS NOT NULL AND completed_at IS NULL AND lapsed_at IS NULL
  AND left_at IS NULL;

-- The claim's queue (as 0280's, on the narrow table): only learners a claim can take.
CREATE INDEX course_user_schedule_claimable_idx ON course_user_schedule (next_due_at)
    WHERE NOT paused;

-- course_users → schedule: completing, lapsing (the farewell) or leaving ends the schedule;
-- pausing or resuming a course sets `paused`. Only these columns' updates fire it, so the
-- hot updates of course_users (taking a journey) pay nothing.
CREATE FUNCTION course_user_schedule_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.completed_at IS NOT NULL OR NEW.lapsed_at IS NOT NULL
       OR NEW.left_at IS NOT NULL THEN
        DELETE FROM course_user_schedule WHERE course_user_id = NEW.id;
    ELSE
        UPDATE course_user_schedule SET paused = NEW.paused_at IS NOT NULL
        WHERE course_user_id = NEW.id AND paused <> (NEW.paused_at IS NOT NULL);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER course_users_schedule_follow
    AFTER UPDATE OF completed_at, lapsed_at, left_at, paused_at ON course_users
    FOR EACH ROW EXECUTE FUNCTION course_user_schedule_follow();

-- schedule → course_users: a row written (inserted, or its `paused` changed) must agree with
-- its course-user. Checked at the end of the statement (an AFTER trigger), so a statement
-- that updates the course-user and writes its schedule in two CTEs is judged on the result.
-- The claim only moves `next_due_at`, which doesn't fire it.
CREATE FUNCTION course_user_schedule_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cu record;
BEGIN
    -- FOR SHARE: a leave, lapse or completion committing meanwhile would not see this
    -- uncommitted row to delete it; the lock makes the two take turns.
    SELECT completed_at, lapsed_at, left_at, paused_at INTO cu
    FROM course_users WHERE id = NEW.course_user_id FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;  -- the foreign key says so
    END IF;
    IF cu.completed_at IS NOT NULL OR cu.lapsed_at IS NOT NULL OR cu.left_at IS NOT NULL THEN
        RAISE EXCEPTION 'course-user % is completed, lapsed or left: it has no schedule',
            NEW.course_user_id USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.paused <> (cu.paused_at IS NOT NULL) THEN
        RAISE EXCEPTION 'course_user_schedule.paused of % disagrees with course_users.paused_at',
            NEW.course_user_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER course_user_schedule_check
    AFTER INSERT OR UPDATE OF course_user_id, paused ON course_user_schedule
    FOR EACH ROW EXECUTE FUNCTION course_user_schedule_check();

-- One source of truth (drops course_users_claimable_due_idx with it).
ALTER TABLE course_users DROP COLUMN next_due_at;
