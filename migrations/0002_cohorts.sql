-- Cohorts, cold calls and the admin console: what 0001 needs for resumable broadcasts.

-- A recipient is 'sending' from the moment its row is committed as in flight until Telegram
-- answers. If the process dies in between we cannot know whether Telegram got the message, so
-- a takeover marks such rows 'unconfirmed' and never sends them again (at most once).
ALTER TYPE send_status ADD VALUE IF NOT EXISTS 'sending' BEFORE 'sent';
ALTER TYPE send_status ADD VALUE IF NOT EXISTS 'unconfirmed';

-- One process owns a broadcast at a time: it renews `lease_until` while it sends and edits the
-- progress message; another process takes the broadcast over only after the lease expired.
ALTER TABLE broadcasts
    ADD COLUMN owner        text,
    ADD COLUMN lease_until  timestamptz,
    ADD COLUMN target_label text NOT NULL DEFAULT '';
CREATE INDEX broadcasts_lease_idx ON broadcasts (lease_until) WHERE owner IS NOT NULL;

ALTER TABLE broadcast_recipients
    ADD COLUMN claimed_by  text,
    ADD COLUMN message_id  bigint;

-- "Who tutors this course" is asked on every tutor command.
CREATE INDEX course_tutors_tutor_idx ON course_tutors (tutor_id);
-- Projects shown in /progress are looked up by the learner's memberships.
CREATE INDEX cohort_members_user_status_idx ON cohort_members (user_id, status)
    WHERE user_id IS NOT NULL;
-- "Which prompt comes next" counts a cohort's posts per prompt; /top reads a post's answers.
CREATE INDEX cold_call_posts_prompt_idx ON cold_call_posts (prompt_id, cohort_id);
CREATE INDEX cold_call_messages_post_idx ON cold_call_messages (post_id);
