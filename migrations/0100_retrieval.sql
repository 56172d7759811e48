-- BM25 over course_chunks, with document frequencies per course.
--
-- ts_rank_cd knows nothing of how common a word is in a course, so on real text a question's
-- everyday words ("table", "column") outvote the one rare word that names the answer, and an
-- OR-match must rank every matching row. BM25 needs each word's document frequency and each
-- course's chunk count and mean length: these tables hold them (and the postings, so a search
-- reads only the rows of the question's words), kept in step with course_chunks by
-- statement-level triggers, whoever writes the chunks (the importer, a bench's bulk COPY).

CREATE TABLE course_terms (
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    lexeme     text NOT NULL,
    chunk_id   text NOT NULL,
    tf         real NOT NULL CHECK (tf > 0),  -- heading occurrences count twice
    doc_len    real NOT NULL CHECK (doc_len > 0),  -- the chunk's summed tf, denormalised
    PRIMARY KEY (course_id, lexeme, chunk_id)
);

CREATE TABLE course_lexemes (
    course_id  uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    lexeme     text NOT NULL,
    df         integer NOT NULL,  -- chunks of the course holding the lexeme
    PRIMARY KEY (course_id, lexeme)
);

CREATE TABLE course_text_stats (
    course_id  uuid PRIMARY KEY REFERENCES courses (id) ON DELETE CASCADE,
    chunks     integer NOT NULL,
    total_len  double precision NOT NULL
);

-- Postings and statistics for chunks that left (`gone`) and arrived (`added`).
CREATE FUNCTION course_terms_apply(gone course_chunks[], added course_chunks[])
RETURNS void LANGUAGE sql AS $$
    DELETE FROM course_terms t
    USING (SELECT g.course_id, g.chunk_id, u.lexeme
           FROM unnest(gone) g, unnest(g.tsv) u) x
    WHERE t.course_id = x.course_id AND t.lexeme = x.lexeme AND t.chunk_id = x.chunk_id;

    INSERT INTO course_terms (course_id, lexeme, chunk_id, tf, doc_len)
    SELECT course_id, lexeme, chunk_id, tf, sum(tf) OVER (PARTITION BY chunk_id)
    FROM (SELECT a.course_id, u.lexeme, a.chunk_id,
                 (SELECT sum(CASE w WHEN 'A' THEN 2 ELSE 1 END) FROM unnest(u.weights) w) AS tf
          FROM unnest(added) a, unnest(a.tsv) u) x;

    -- A course being deleted has no row to count for any more (the cascade got here first).
    INSERT INTO course_lexemes AS l (course_id, lexeme, df)
    SELECT course_id, lexeme, sum(d) FROM (
        SELECT a.course_id, u.lexeme, 1 AS d FROM unnest(added) a, unnest(a.tsv) u
        UNION ALL
        SELECT g.course_id, u.lexeme, -1 FROM unnest(gone) g, unnest(g.tsv) u
    ) x
    WHERE EXISTS (SELECT 1 FROM courses c WHERE c.id = x.course_id)
    GROUP BY course_id, lexeme HAVING sum(d) <> 0
    ON CONFLICT (course_id, lexeme) DO UPDATE SET df = l.df + EXCLUDED.df;

    DELETE FROM course_lexemes l
    USING (SELECT DISTINCT g.course_id, u.lexeme FROM unnest(gone) g, unnest(g.tsv) u) x
    WHERE l.course_id = x.course_id AND l.lexeme = x.lexeme AND l.df <= 0;

    INSERT INTO course_text_stats AS s (course_id, chunks, total_len)
    SELECT course_id, sum(n), sum(len) FROM (
        SELECT a.course_id, 1 AS n,
               (SELECT coalesce(sum(CASE w WHEN 'A' THEN 2 ELSE 1 END), 0)
                FROM unnest(a.tsv) u, unnest(u.weights) w) AS len
        FROM unnest(added) a
        UNION ALL
        SELECT g.course_id, -1,
               -(SELECT coalesce(sum(CASE w WHEN 'A' THEN 2 ELSE 1 END), 0)
                 FROM unnest(g.tsv) u, unnest(u.weights) w)
        FROM unnest(gone) g
    ) x
    WHERE EXISTS (SELECT 1 FROM courses c WHERE c.id = x.course_id)
    GROUP BY course_id
    ON CONFLICT (course_id) DO UPDATE
        SET chunks = s.chunks + EXCLUDED.chunks, total_len = s.total_len + EXCLUDED.total_len;
$$;

-- One function for the three triggers: each branch names only the transition tables its
-- event has.
CREATE FUNCTION course_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM course_terms_apply('{}', ARRAY(SELECT ROW(n.*)::course_chunks FROM new_rows n));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM course_terms_apply(ARRAY(SELECT ROW(o.*)::course_chunks FROM old_rows o), '{}');
    ELSE
        -- an update that leaves the text alone (a new embedding) keeps its postings
        PERFORM course_terms_apply(
            ARRAY(SELECT ROW(o.*)::course_chunks FROM old_rows o WHERE NOT EXISTS (
                SELECT 1 FROM new_rows n WHERE n.chunk_id = o.chunk_id
                    AND n.course_id = o.course_id AND n.tsv = o.tsv)),
            ARRAY(SELECT ROW(n.*)::course_chunks FROM new_rows n WHERE NOT EXISTS (
                SELECT 1 FROM old_rows o WHERE n.chunk_id = o.chunk_id
                    AND n.course_id = o.course_id AND n.tsv = o.tsv)));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER course_terms_insert AFTER INSERT ON course_chunks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION course_terms_sync();
CREATE TRIGGER course_terms_update AFTER UPDATE ON course_chunks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION course_terms_sync();
CREATE TRIGGER course_terms_delete AFTER DELETE ON course_chunks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION course_terms_sync();

-- Chunks already stored get their postings now.
SELECT course_terms_apply('{}', ARRAY(SELECT c FROM course_chunks c));
