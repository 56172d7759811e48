-- A reply in a cohort's group that arrived before the message it replies to was stored (updates
-- from several polling batches or webhook processes overtake each other). It waits here, keyed
-- by the message it replies to, and becomes a cold_call_messages row in the transaction that
-- stores its parent. Only replies by the cohort's members and staff, in its linked group (and
-- thread) wait, and only for 48 hours: whatever never finds a parent is forgotten with the
-- processed update ids, so no unrelated conversation is kept.
CREATE TABLE cold_call_waiting_replies (
    telegram_chat_id     bigint NOT NULL,
    telegram_message_id  bigint NOT NULL,
    reply_to_message_id  bigint NOT NULL,
    cohort_id            uuid NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    is_tutor_reply       boolean NOT NULL,
    body                 text NOT NULL,
    -- when the update was handled (the activity event of a learner's answer keeps this time)
    replied_at           timestamptz NOT NULL,
    received_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (telegram_chat_id, telegram_message_id),
    CHECK (reply_to_message_id <> telegram_message_id)
);
CREATE INDEX cold_call_waiting_replies_parent_idx
    ON cold_call_waiting_replies (telegram_chat_id, reply_to_message_id);
CREATE INDEX cold_call_waiting_replies_received_idx ON cold_call_waiting_replies (received_at);
