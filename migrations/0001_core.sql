-- learnbot core schema. Derived from the seed documents (see ../shared/DESIGN.md):
-- UUID keys, timestamptz everywhere, every invariant enforced here rather than in code.

CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE user_role AS ENUM ('learner', 'tutor', 'admin');
CREATE TYPE persona AS ENUM ('normal', 'sports', 'cooking', 'adventure');
CREATE TYPE persona_key AS ENUM (
    'non_it_migrant', 'rote_memorizer', 'english_hesitant', 'last_minute_panic', 'pseudo_coder'
);
CREATE TYPE difficulty AS ENUM ('easy', 'medium', 'hard');
CREATE TYPE enrollment_status AS ENUM ('active', 'paused', 'completed');
CREATE TYPE delivery_status AS ENUM ('claimed', 'sent', 'failed', 'skipped');
CREATE TYPE delivery_source AS ENUM ('scheduled', 'pulled');
CREATE TYPE quiz_status AS ENUM ('in_progress', 'passed', 'failed', 'abandoned');
CREATE TYPE member_status AS ENUM ('active', 'invited', 'paused', 'removed');
CREATE TYPE chat_role AS ENUM ('user', 'assistant', 'system');
CREATE TYPE send_status AS ENUM ('pending', 'sent', 'failed');

-- One trigger function keeps every updated_at honest (seed 004).
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    telegram_id     bigint UNIQUE,
    username        text,
    email           text,
    phone           text,
    display_name    text NOT NULL DEFAULT '',
    role            user_role NOT NULL DEFAULT 'learner',
    locale          text NOT NULL DEFAULT 'en',
    timezone        text NOT NULL DEFAULT 'UTC',
    delivery_hour   smallint NOT NULL DEFAULT 8 CHECK (delivery_hour BETWEEN 0 AND 23),
    xp_total        integer NOT NULL DEFAULT 0 CHECK (xp_total >= 0),
    level           integer NOT NULL DEFAULT 1 CHECK (level >= 1),
    streak_current  integer NOT NULL DEFAULT 0 CHECK (streak_current >= 0),
    streak_longest  integer NOT NULL DEFAULT 0 CHECK (streak_longest >= streak_current),
    streak_last_date date,
    is_reachable    boolean NOT NULL DEFAULT true,
    unreachable_at  timestamptz,
    paused          boolean NOT NULL DEFAULT false,
    last_seen_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (email IS NULL OR email = lower(email)),
    CHECK (timezone <> '')
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_phone_key ON users (phone) WHERE phone IS NOT NULL;
CREATE INDEX users_username_idx ON users (lower(username));
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE courses (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                  text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    title                 text NOT NULL CHECK (title <> ''),
    description           text NOT NULL DEFAULT '',
    thumbnail_url         text,
    prompt_quota          integer NOT NULL DEFAULT 10 CHECK (prompt_quota >= 0),
    pass_mark             integer NOT NULL DEFAULT 70 CHECK (pass_mark BETWEEN 0 AND 100),
    quiz_cooldown_minutes integer NOT NULL DEFAULT 60 CHECK (quiz_cooldown_minutes >= 0),
    personas              persona[] NOT NULL DEFAULT ARRAY['normal']::persona[],
    is_published          boolean NOT NULL DEFAULT true,
    source_hash           text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER courses_updated_at BEFORE UPDATE ON courses
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A topic is one lesson; it is matched across re-imports by its stable `key`.
-- Removed topics are archived (not deleted) so learners' progress survives; the seed's unique
-- (course_id, module_no, topic_number) holds among live topics.
CREATE TABLE topics (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id     uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (key <> ''),
    module_no     integer NOT NULL CHECK (module_no >= 1),
    module_title  text NOT NULL DEFAULT '',
    topic_number  integer NOT NULL CHECK (topic_number >= 1),
    title         text NOT NULL CHECK (title <> ''),
    content_type  text NOT NULL DEFAULT 'video',
    text_content  text NOT NULL DEFAULT '',
    video_url     text,
    ppt_url       text,
    difficulty    difficulty NOT NULL DEFAULT 'easy',
    archived_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (course_id, key)
);
CREATE UNIQUE INDEX topics_course_module_number_key
    ON topics (course_id, module_no, topic_number) WHERE archived_at IS NULL;
CREATE TRIGGER topics_updated_at BEFORE UPDATE ON topics
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The daily units. One per topic; `priority` orders them and is unique among live journeys.
CREATE TABLE journeys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id    uuid NOT NULL UNIQUE REFERENCES topics (id) ON DELETE CASCADE,
    priority    integer NOT NULL,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX journeys_course_priority_key ON journeys (course_id, priority) WHERE is_active;
CREATE TRIGGER journeys_updated_at BEFORE UPDATE ON journeys
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE enrollments (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id     uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    status        enrollment_status NOT NULL DEFAULT 'active',
    enrolled_at   timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, course_id),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX enrollments_course_idx ON enrollments (course_id);
CREATE TRIGGER enrollments_updated_at BEFORE UPDATE ON enrollments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Seed 000: learners actively working through a course. `next_due_at` is the instant of the
-- learner's next local delivery hour; the delivery claim keys on it.
CREATE TABLE course_users (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    uid              text NOT NULL UNIQUE
                     DEFAULT 'cu_' || replace(gen_random_uuid()::text, '-', '')
                     CHECK (uid LIKE 'cu\_%'),
    course_id        uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    last_priority    integer,
    last_journey_at  timestamptz NOT NULL DEFAULT '-infinity',
    next_due_at      timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX course_users_course_user_idx ON course_users (course_id, user_id);
CREATE INDEX course_users_user_created_at_idx ON course_users (user_id, created_at);
CREATE INDEX course_users_due_idx ON course_users (next_due_at)
    WHERE completed_at IS NULL AND next_due_at IS NOT NULL;
CREATE TRIGGER course_users_updated_at BEFORE UPDATE ON course_users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One journey per course-user per local date: the unique key *is* the once-a-day guarantee.
CREATE TABLE journey_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_user_id  uuid NOT NULL REFERENCES course_users (id) ON DELETE CASCADE,
    journey_id      uuid NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    local_date      date NOT NULL,
    source          delivery_source NOT NULL DEFAULT 'scheduled',
    status          delivery_status NOT NULL DEFAULT 'claimed',
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_by      text,
    claimed_at      timestamptz NOT NULL DEFAULT now(),
    visible_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    opened_at       timestamptz,
    done_at         timestamptz,
    chat_id         bigint,
    message_id      bigint,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (course_user_id, local_date),
    CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);
CREATE INDEX journey_deliveries_pending_idx ON journey_deliveries (visible_at)
    WHERE status = 'claimed';
CREATE INDEX journey_deliveries_journey_idx ON journey_deliveries (journey_id);
CREATE TRIGGER journey_deliveries_updated_at BEFORE UPDATE ON journey_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Seed 004: lesson-level progress. score NULL means "no quiz", never 0.
CREATE TABLE topic_progress (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id           uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id            uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    is_completed        boolean NOT NULL DEFAULT false,
    last_position_s     integer NOT NULL DEFAULT 0 CHECK (last_position_s BETWEEN 0 AND 100),
    time_spent_seconds  integer NOT NULL DEFAULT 0 CHECK (time_spent_seconds >= 0),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    score               integer CHECK (score BETWEEN 0 AND 100),
    opened_at           timestamptz,
    first_started_at    timestamptz NOT NULL DEFAULT now(),
    last_accessed_at    timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, topic_id),
    CHECK (is_completed = (completed_at IS NOT NULL)),
    CHECK (completed_at IS NULL OR completed_at >= first_started_at),
    CHECK (last_accessed_at >= first_started_at)
);
CREATE INDEX topic_progress_user_course_idx ON topic_progress (user_id, course_id);
CREATE INDEX topic_progress_topic_idx ON topic_progress (topic_id);
CREATE INDEX topic_progress_completed_at_idx ON topic_progress (completed_at)
    WHERE completed_at IS NOT NULL;
CREATE TRIGGER topic_progress_updated_at BEFORE UPDATE ON topic_progress
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE module_progress (
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id         uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    module_no         integer NOT NULL CHECK (module_no >= 1),
    videos_completed  integer NOT NULL DEFAULT 0 CHECK (videos_completed >= 0),
    quiz_passed       boolean NOT NULL DEFAULT false,
    unlocked_at       timestamptz,
    cooldown_until    timestamptz,
    completed_at      timestamptz,
    passed_at         timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, course_id, module_no),
    CHECK (quiz_passed = (passed_at IS NOT NULL))
);
CREATE TRIGGER module_progress_updated_at BEFORE UPDATE ON module_progress
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE quiz_questions (
    question_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id         uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    module_no         integer NOT NULL CHECK (module_no >= 1),
    topic_pair_index  integer NOT NULL DEFAULT 0 CHECK (topic_pair_index >= 0),
    prompt            text NOT NULL CHECK (prompt <> ''),
    explanation       text NOT NULL DEFAULT '',
    order_index       integer NOT NULL CHECK (order_index >= 0),
    UNIQUE (course_id, module_no, topic_pair_index, order_index)
);

CREATE TABLE quiz_options (
    option_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    question_id  uuid NOT NULL REFERENCES quiz_questions (question_id) ON DELETE CASCADE,
    option_text  text NOT NULL CHECK (option_text <> ''),
    is_correct   boolean NOT NULL DEFAULT false,
    order_index  integer NOT NULL CHECK (order_index >= 0),
    UNIQUE (question_id, order_index)
);

-- Append-only facts of quiz attempts (seed 002); at most one open attempt per module.
CREATE TABLE quiz_attempts (
    attempt_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id         uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    module_no         integer NOT NULL CHECK (module_no >= 1),
    topic_pair_index  integer NOT NULL DEFAULT 0,
    question_set      jsonb NOT NULL DEFAULT '[]',
    answers           jsonb NOT NULL DEFAULT '{}',
    score             integer CHECK (score BETWEEN 0 AND 100),
    status            quiz_status NOT NULL DEFAULT 'in_progress',
    started_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('passed', 'failed')) = (score IS NOT NULL AND completed_at IS NOT NULL))
);
CREATE UNIQUE INDEX quiz_attempts_one_open_idx ON quiz_attempts (user_id, course_id, module_no)
    WHERE status = 'in_progress';
CREATE INDEX quiz_attempts_user_course_idx ON quiz_attempts (user_id, course_id, module_no);
CREATE TRIGGER quiz_attempts_updated_at BEFORE UPDATE ON quiz_attempts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE topic_personalization (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    persona     persona NOT NULL DEFAULT 'normal',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, course_id)
);
CREATE TRIGGER topic_personalization_updated_at BEFORE UPDATE ON topic_personalization
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE learner_persona_profiles (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id    uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    persona_key  persona_key NOT NULL,
    notes        text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, course_id)
);
CREATE TRIGGER learner_persona_profiles_updated_at BEFORE UPDATE ON learner_persona_profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- persona_key NULL is the default payload; NULLS NOT DISTINCT keeps it unique too.
CREATE TABLE topic_content_assets (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id    uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id     uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    content_key  text NOT NULL CHECK (content_key <> ''),
    persona_key  persona,
    payload      jsonb NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (topic_id, content_key, persona_key)
);
CREATE INDEX topic_content_assets_course_idx ON topic_content_assets (course_id);
CREATE INDEX topic_content_assets_topic_idx ON topic_content_assets (topic_id);
CREATE INDEX topic_content_assets_key_idx ON topic_content_assets (content_key);
CREATE TRIGGER topic_content_assets_updated_at BEFORE UPDATE ON topic_content_assets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE topic_prompt_suggestions (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id             uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id              uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    parent_suggestion_id  uuid REFERENCES topic_prompt_suggestions (id) ON DELETE CASCADE,
    prompt_text           text NOT NULL CHECK (prompt_text <> ''),
    order_index           integer NOT NULL DEFAULT 0 CHECK (order_index >= 0),
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX topic_prompt_suggestions_course_idx ON topic_prompt_suggestions (course_id);
CREATE INDEX topic_prompt_suggestions_topic_idx ON topic_prompt_suggestions (topic_id);
CREATE INDEX topic_prompt_suggestions_parent_idx ON topic_prompt_suggestions (parent_suggestion_id);

-- Typed-prompt quota; spending is one conditional UPDATE (see storage/quota.py).
CREATE TABLE module_prompt_usage (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    module_no   integer NOT NULL CHECK (module_no >= 1),
    used        integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, course_id, module_no)
);
CREATE TRIGGER module_prompt_usage_updated_at BEFORE UPDATE ON module_prompt_usage
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cohorts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id           uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$'),
    telegram_chat_id    bigint UNIQUE,
    telegram_thread_id  bigint,
    invite_code         text NOT NULL UNIQUE
                        DEFAULT replace(gen_random_uuid()::text, '-', ''),
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name)
);
CREATE INDEX cohorts_course_idx ON cohorts (course_id);
CREATE TRIGGER cohorts_updated_at BEFORE UPDATE ON cohorts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cohort_members (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cohort_id   uuid NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    status      member_status NOT NULL DEFAULT 'active',
    batch_no    integer NOT NULL DEFAULT 1 CHECK (batch_no >= 1),
    invite_code text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
    joined_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cohort_id, email)
);
CREATE INDEX cohort_members_user_idx ON cohort_members (user_id);
CREATE TRIGGER cohort_members_updated_at BEFORE UPDATE ON cohort_members
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cohort_batch_projects (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cohort_id   uuid NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    batch_no    integer NOT NULL CHECK (batch_no >= 1),
    title       text NOT NULL CHECK (title <> ''),
    url         text NOT NULL CHECK (url ~ '^https?://'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cohort_id, batch_no)
);
CREATE INDEX cohort_batch_projects_cohort_idx ON cohort_batch_projects (cohort_id);
CREATE TRIGGER cohort_batch_projects_updated_at BEFORE UPDATE ON cohort_batch_projects
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE tutors (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    bio         text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE course_tutors (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    tutor_id    uuid NOT NULL REFERENCES tutors (id) ON DELETE CASCADE,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (course_id, tutor_id)
);
CREATE TRIGGER course_tutors_updated_at BEFORE UPDATE ON course_tutors
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cold_call_prompts (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    course_id      uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id       uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    display_order  integer NOT NULL CHECK (display_order >= 1),
    prompt         text NOT NULL CHECK (prompt <> ''),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic_id, display_order)
);
CREATE INDEX cold_call_prompts_course_idx ON cold_call_prompts (course_id);
CREATE INDEX cold_call_prompts_topic_idx ON cold_call_prompts (topic_id);

-- A prompt posted into a cohort's group (one row per post).
CREATE TABLE cold_call_posts (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id            uuid NOT NULL REFERENCES cold_call_prompts (id) ON DELETE CASCADE,
    cohort_id            uuid NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    posted_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    telegram_chat_id     bigint NOT NULL,
    telegram_thread_id   bigint,
    telegram_message_id  bigint,
    posted_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (telegram_chat_id, telegram_message_id)
);
CREATE INDEX cold_call_posts_cohort_idx ON cold_call_posts (cohort_id, posted_at DESC);

CREATE TABLE cold_call_messages (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    prompt_id            uuid NOT NULL REFERENCES cold_call_prompts (id) ON DELETE CASCADE,
    cohort_id            uuid NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    post_id              uuid REFERENCES cold_call_posts (id) ON DELETE CASCADE,
    user_id              uuid REFERENCES users (id) ON DELETE SET NULL,
    parent_id            uuid REFERENCES cold_call_messages (id) ON DELETE CASCADE,
    root_id              uuid REFERENCES cold_call_messages (id) ON DELETE CASCADE,
    is_tutor_reply       boolean NOT NULL DEFAULT false,
    body                 text NOT NULL,
    telegram_chat_id     bigint NOT NULL,
    telegram_message_id  bigint NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (telegram_chat_id, telegram_message_id),
    CHECK ((parent_id IS NULL) = (root_id IS NULL)),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX cold_call_messages_prompt_cohort_idx ON cold_call_messages (prompt_id, cohort_id);
CREATE INDEX cold_call_messages_root_idx ON cold_call_messages (root_id);
CREATE INDEX cold_call_messages_parent_idx ON cold_call_messages (parent_id);

CREATE TABLE cold_call_stars (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id  uuid NOT NULL REFERENCES cold_call_messages (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);
CREATE INDEX cold_call_stars_message_idx ON cold_call_stars (message_id);
CREATE INDEX cold_call_stars_user_idx ON cold_call_stars (user_id);

-- topic_id NULL = a course-wide conversation; NULLS NOT DISTINCT keeps one per user and course.
CREATE TABLE cp_rag_chat_sessions (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id              uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id               uuid REFERENCES topics (id) ON DELETE CASCADE,
    summary                text NOT NULL DEFAULT '',
    summary_message_count  integer NOT NULL DEFAULT 0 CHECK (summary_message_count >= 0),
    summary_updated_at     timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (user_id, course_id, topic_id)
);
CREATE INDEX cp_rag_chat_sessions_course_idx ON cp_rag_chat_sessions (course_id);
CREATE INDEX cp_rag_chat_sessions_user_idx ON cp_rag_chat_sessions (user_id);
CREATE TRIGGER cp_rag_chat_sessions_updated_at BEFORE UPDATE ON cp_rag_chat_sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cp_rag_chat_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id  uuid NOT NULL REFERENCES cp_rag_chat_sessions (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        chat_role NOT NULL,
    content     text NOT NULL,
    citations   jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX cp_rag_chat_messages_session_idx ON cp_rag_chat_messages (session_id, created_at);
CREATE INDEX cp_rag_chat_messages_user_idx ON cp_rag_chat_messages (user_id);

CREATE TABLE learner_activity_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id   uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id    uuid REFERENCES topics (id) ON DELETE SET NULL,
    event_type  text NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_]+$'),
    payload     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX learner_activity_events_course_user_idx
    ON learner_activity_events (course_id, user_id, created_at);
CREATE INDEX learner_activity_events_user_idx ON learner_activity_events (user_id, created_at);
CREATE INDEX learner_activity_events_topic_idx ON learner_activity_events (topic_id);

-- RAG passages. chunk_id is deterministic (course, topic key, ordinal) so re-import is
-- idempotent; content_hash lets unchanged chunks skip re-embedding.
CREATE TABLE course_chunks (
    chunk_id      text PRIMARY KEY,
    course_id     uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    topic_id      uuid REFERENCES topics (id) ON DELETE CASCADE,
    module_no     integer NOT NULL DEFAULT 0,
    ordinal       integer NOT NULL DEFAULT 0 CHECK (ordinal >= 0),
    heading       text NOT NULL DEFAULT '',
    content       text NOT NULL CHECK (content <> ''),
    content_hash  text NOT NULL,
    token_count   integer NOT NULL DEFAULT 0 CHECK (token_count >= 0),
    embedding     vector(384),
    tsv           tsvector GENERATED ALWAYS AS (
                      setweight(to_tsvector('english', heading), 'A')
                      || setweight(to_tsvector('english', content), 'B')
                  ) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX course_chunks_course_idx ON course_chunks (course_id);
CREATE INDEX course_chunks_topic_idx ON course_chunks (topic_id);
CREATE INDEX course_chunks_embedding_hnsw ON course_chunks
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
CREATE INDEX course_chunks_tsv_idx ON course_chunks USING gin (tsv);
CREATE TRIGGER course_chunks_updated_at BEFORE UPDATE ON course_chunks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE badges (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code         text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9_]+$'),
    name         text NOT NULL CHECK (name <> ''),
    description  text NOT NULL DEFAULT '',
    media        jsonb NOT NULL DEFAULT '{}',
    active       boolean NOT NULL DEFAULT true
);

CREATE TABLE badge_rules (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    badge_id  uuid NOT NULL REFERENCES badges (id) ON DELETE CASCADE,
    type      text NOT NULL CHECK (type IN (
                  'first_try_pass', 'streak', 'module_complete', 'course_complete', 'fastest_quiz'
              )),
    criteria  jsonb NOT NULL DEFAULT '{}',
    active    boolean NOT NULL DEFAULT true
);
CREATE INDEX badge_rules_badge_idx ON badge_rules (badge_id);

-- Awarded idempotently: unique per user, badge and context scope (seed 002).
CREATE TABLE user_badges (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    badge_id     uuid NOT NULL REFERENCES badges (id) ON DELETE CASCADE,
    context      jsonb NOT NULL DEFAULT '{}',
    context_key  text GENERATED ALWAYS AS (coalesce(context ->> 'scope', '')) STORED,
    awarded_at   timestamptz NOT NULL DEFAULT now(),
    notified_at  timestamptz,
    UNIQUE (user_id, badge_id, context_key)
);

-- Append-only XP ledger: one row per (user, source), so a retried award never counts twice.
CREATE TABLE xp_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id   uuid REFERENCES courses (id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source <> ''),
    amount      integer NOT NULL CHECK (amount >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, source)
);

CREATE TABLE page_content (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9_-]+$'),
    title       text NOT NULL DEFAULT '',
    body        text NOT NULL,
    updated_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER page_content_updated_at BEFORE UPDATE ON page_content
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Telegram may deliver an update more than once (webhook retries, restarts); first insert wins.
CREATE TABLE processed_updates (
    bot_id        bigint NOT NULL,
    update_id     bigint NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX processed_updates_at_idx ON processed_updates (processed_at);

-- Admin broadcasts, resumable: recipients are materialized once, each sent at most once.
CREATE TABLE broadcasts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_by          uuid REFERENCES users (id) ON DELETE SET NULL,
    target_kind         text NOT NULL CHECK (target_kind IN ('course', 'cohort')),
    target_id           uuid NOT NULL,
    body                text NOT NULL CHECK (body <> ''),
    status              text NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'sending', 'done', 'cancelled')),
    progress_chat_id    bigint,
    progress_message_id bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER broadcasts_updated_at BEFORE UPDATE ON broadcasts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE broadcast_recipients (
    broadcast_id  uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id       bigint NOT NULL,
    status        send_status NOT NULL DEFAULT 'pending',
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    visible_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    last_error    text,
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX broadcast_recipients_pending_idx ON broadcast_recipients (broadcast_id, visible_at)
    WHERE status = 'pending';
