-- Feedback on ask-the-course answers: 👍/👎 under each answer.
--
-- An answer is kept with what it was made of — the question, every passage retrieved (not
-- only the cited ones) and the citations — so a tutor looking at a down-voted answer sees
-- whether the material was missing, found but ranked low, or found and badly quoted. One vote
-- per learner and answer (the primary key); voting again changes it.
CREATE TABLE rag_answers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id    uuid REFERENCES topics (id) ON DELETE SET NULL,
    session_id  uuid REFERENCES cp_rag_chat_sessions (id) ON DELETE SET NULL,
    question    text NOT NULL,
    answer      text NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('llm', 'extractive', 'unknown')),
    passages    jsonb NOT NULL DEFAULT '[]',  -- [{n, chunk_id, topic_title, score, similarity}]
    citations   jsonb NOT NULL DEFAULT '[]',  -- as stored with the chat turn
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rag_answers_course_idx ON rag_answers (course_id, created_at);
CREATE INDEX rag_answers_user_idx ON rag_answers (user_id);

CREATE TABLE rag_answer_votes (
    answer_id   uuid NOT NULL REFERENCES rag_answers (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    helpful     boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (answer_id, user_id)
);
