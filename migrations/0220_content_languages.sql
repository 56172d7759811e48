-- Course content in several languages (issue 13, parts 3-4).
--
-- A course lists its languages (course.toml `languages`, the first is the default). The rows
-- of topics, quiz questions and options, cold-call prompts and suggestions hold the default
-- language's text; a translation is a row keyed by (the thing, language), and every
-- translation names its course's language through a foreign key to `course_languages`, so a
-- language dropped from course.toml takes its translations with it and no translation can
-- exist for a language the course doesn't declare. Readers fall back per item: no row in the
-- learner's language means the original.

CREATE TABLE course_languages (
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    language   text NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    position   smallint NOT NULL CHECK (position >= 0),  -- 0: the default language
    PRIMARY KEY (course_id, language),
    -- deferred: a re-import that reorders the languages swaps positions mid-statement
    CONSTRAINT course_languages_position_key UNIQUE (course_id, position)
        DEFERRABLE INITIALLY DEFERRED
);
-- Courses imported before languages existed are English.
INSERT INTO course_languages (course_id, language, position) SELECT id, 'en', 0 FROM courses;

CREATE TABLE topic_translations (
    topic_id      uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    course_id     uuid NOT NULL,
    language      text NOT NULL,
    title         text NOT NULL CHECK (title <> ''),
    module_title  text NOT NULL CHECK (module_title <> ''),  -- denormalised, as in topics
    body          text NOT NULL CHECK (body <> ''),
    PRIMARY KEY (topic_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);
CREATE INDEX topic_translations_course_idx ON topic_translations (course_id, language);

CREATE TABLE quiz_question_translations (
    question_id  uuid NOT NULL REFERENCES quiz_questions (question_id) ON DELETE CASCADE,
    course_id    uuid NOT NULL,
    language     text NOT NULL,
    prompt       text NOT NULL CHECK (prompt <> ''),
    explanation  text NOT NULL DEFAULT '',
    PRIMARY KEY (question_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);
CREATE INDEX quiz_question_translations_course_idx
    ON quiz_question_translations (course_id, language);

CREATE TABLE quiz_option_translations (
    option_id    uuid NOT NULL REFERENCES quiz_options (option_id) ON DELETE CASCADE,
    course_id    uuid NOT NULL,
    language     text NOT NULL,
    option_text  text NOT NULL CHECK (option_text <> ''),
    PRIMARY KEY (option_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);
CREATE INDEX quiz_option_translations_course_idx
    ON quiz_option_translations (course_id, language);

CREATE TABLE cold_call_prompt_translations (
    prompt_id  uuid NOT NULL REFERENCES cold_call_prompts (id) ON DELETE CASCADE,
    course_id  uuid NOT NULL,
    language   text NOT NULL,
    prompt     text NOT NULL CHECK (prompt <> ''),
    PRIMARY KEY (prompt_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);
CREATE INDEX cold_call_prompt_translations_course_idx
    ON cold_call_prompt_translations (course_id, language);

CREATE TABLE suggestion_translations (
    suggestion_id  uuid NOT NULL REFERENCES topic_prompt_suggestions (id) ON DELETE CASCADE,
    course_id      uuid NOT NULL,
    language       text NOT NULL,
    prompt_text    text NOT NULL CHECK (prompt_text <> ''),
    PRIMARY KEY (suggestion_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);
CREATE INDEX suggestion_translations_course_idx ON suggestion_translations (course_id, language);

-- RAG passages per language. Full-text search stems with the language's text-search
-- configuration; PostgreSQL has none for Filipino (or most languages), so those get `simple`
-- (lower-cased words, no stemming, no stop words).
CREATE FUNCTION text_search_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE language
        WHEN 'en' THEN 'english'::regconfig
        WHEN 'de' THEN 'german'::regconfig
        WHEN 'es' THEN 'spanish'::regconfig
        WHEN 'fr' THEN 'french'::regconfig
        WHEN 'it' THEN 'italian'::regconfig
        WHEN 'nl' THEN 'dutch'::regconfig
        WHEN 'pt' THEN 'portuguese'::regconfig
        ELSE 'simple'::regconfig
    END
$$;

ALTER TABLE course_chunks
    ADD COLUMN language text NOT NULL DEFAULT 'en' CHECK (language ~ '^[a-z]{2,3}$');
-- Every stored passage is English, so the rewritten tsv equals the old one.
ALTER TABLE course_chunks ALTER COLUMN tsv SET EXPRESSION AS (
    setweight(to_tsvector(text_search_config(language), heading), 'A')
    || setweight(to_tsvector(text_search_config(language), content), 'B')
);
CREATE INDEX course_chunks_course_language_idx ON course_chunks (course_id, language);

-- BM25 statistics per course *and language*: a Filipino passage must not change an English
-- word's document frequency or the English passages' mean length (English ranking stays
-- exactly what it was), and a question is matched only against its own language's words.
ALTER TABLE course_terms ADD COLUMN language text NOT NULL DEFAULT 'en';
ALTER TABLE course_lexemes ADD COLUMN language text NOT NULL DEFAULT 'en';
ALTER TABLE course_lexemes DROP CONSTRAINT course_lexemes_pkey;
ALTER TABLE course_lexemes ADD PRIMARY KEY (course_id, language, lexeme);
ALTER TABLE course_text_stats ADD COLUMN language text NOT NULL DEFAULT 'en';
ALTER TABLE course_text_stats DROP CONSTRAINT course_text_stats_pkey;
ALTER TABLE course_text_stats ADD PRIMARY KEY (course_id, language);
DROP INDEX course_terms_impact_idx;
CREATE INDEX course_terms_impact_idx ON course_terms (course_id, language, lexeme, impact DESC)
    INCLUDE (chunk_id);

CREATE OR REPLACE FUNCTION course_terms_apply(gone course_chunks[], added course_chunks[])
RETURNS void LANGUAGE sql AS $$
    DELETE FROM course_terms t
    USING (SELECT g.course_id, g.chunk_id, u.lexeme
           FROM unnest(gone) g, unnest(g.tsv) u) x
    WHERE t.course_id = x.course_id AND t.lexeme = x.lexeme AND t.chunk_id = x.chunk_id;

    INSERT INTO course_terms (course_id, language, lexeme, chunk_id, tf, doc_len)
    SELECT course_id, language, lexeme, chunk_id, tf, sum(tf) OVER (PARTITION BY chunk_id)
    FROM (SELECT a.course_id, a.language, u.lexeme, a.chunk_id,
                 (SELECT sum(CASE w WHEN 'A' THEN 2 ELSE 1 END) FROM unnest(u.weights) w) AS tf
          FROM unnest(added) a, unnest(a.tsv) u) x;

    -- A course being deleted has no row to count for any more (the cascade got here first).
    INSERT INTO course_lexemes AS l (course_id, language, lexeme, df)
    SELECT course_id, language, lexeme, sum(d) FROM (
        SELECT a.course_id, a.language, u.lexeme, 1 AS d FROM unnest(added) a, unnest(a.tsv) u
        UNION ALL
        SELECT g.course_id, g.language, u.lexeme, -1 FROM unnest(gone) g, unnest(g.tsv) u
    ) x
    WHERE EXISTS (SELECT 1 FROM courses c WHERE c.id = x.course_id)
    GROUP BY course_id, language, lexeme HAVING sum(d) <> 0
    ON CONFLICT (course_id, language, lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;

    DELETE FROM course_lexemes l
    USING (SELECT DISTINCT g.course_id, g.language, u.lexeme
           FROM unnest(gone) g, unnest(g.tsv) u) x
    WHERE l.course_id = x.course_id AND l.language = x.language AND l.lexeme = x.lexeme
      AND l.df <= 0;

    INSERT INTO course_text_stats AS s (course_id, language, chunks, total_len)
    SELECT course_id, language, sum(n), sum(len) FROM (
        SELECT a.course_id, a.language, 1 AS n,
               (SELECT coalesce(sum(CASE w WHEN 'A' THEN 2 ELSE 1 END), 0)
                FROM unnest(a.tsv) u, unnest(u.weights) w) AS len
        FROM unnest(added) a
        UNION ALL
        SELECT g.course_id, g.language, -1,
               -(SELECT coalesce(sum(CASE w WHEN 'A' THEN 2 ELSE 1 END), 0)
                 FROM unnest(g.tsv) u, unnest(u.weights) w)
        FROM unnest(gone) g
    ) x
    WHERE EXISTS (SELECT 1 FROM courses c WHERE c.id = x.course_id)
    GROUP BY course_id, language
    ON CONFLICT (course_id, language) DO UPDATE
        SET chunks = s.chunks + EXCLUDED.chunks, total_len = s.total_len + EXCLUDED.total_len;
$$;

CREATE OR REPLACE FUNCTION course_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM course_terms_apply('{}', ARRAY(SELECT ROW(n.*)::course_chunks FROM new_rows n));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM course_terms_apply(ARRAY(SELECT ROW(o.*)::course_chunks FROM old_rows o), '{}');
    ELSE
        -- an update that leaves the text and language alone (a new embedding) keeps its
        -- postings
        PERFORM course_terms_apply(
            ARRAY(SELECT ROW(o.*)::course_chunks FROM old_rows o WHERE NOT EXISTS (
                SELECT 1 FROM new_rows n WHERE n.chunk_id = o.chunk_id
                    AND n.course_id = o.course_id AND n.language = o.language
                    AND n.tsv = o.tsv)),
            ARRAY(SELECT ROW(n.*)::course_chunks FROM new_rows n WHERE NOT EXISTS (
                SELECT 1 FROM old_rows o WHERE n.chunk_id = o.chunk_id
                    AND n.course_id = o.course_id AND n.language = o.language
                    AND n.tsv = o.tsv)));
    END IF;
    RETURN NULL;
END
$$;
