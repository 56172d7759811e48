-- A course's own title and description per language (issue 13): course.<lang>.toml beside
-- course.toml. `courses.title` / `courses.description` stay the default language's; a row here
-- holds another declared language's, a NULL field meaning "not translated" (the default's is
-- shown). Like every translation since 0220 it names its course's language through
-- `course_languages`, so dropping a language from course.toml removes it.

CREATE TABLE course_translations (
    course_id    uuid NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    language     text NOT NULL,
    title        text CHECK (title <> ''),
    description  text,
    PRIMARY KEY (course_id, language),
    FOREIGN KEY (course_id, language) REFERENCES course_languages ON DELETE CASCADE
);

-- What a learner reading `language` sees: the translation where there is one, else the
-- default language's text. Every query that puts a course's title in front of a learner
-- goes through these, so the fallback is written once.
CREATE FUNCTION course_title(course uuid, language text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT t.title FROM course_translations t
                     WHERE t.course_id = course AND t.language = course_title.language),
                    (SELECT c.title FROM courses c WHERE c.id = course))
$$;

CREATE FUNCTION course_description(course uuid, language text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT nullif(t.description, '') FROM course_translations t
                     WHERE t.course_id = course AND t.language = course_description.language),
                    (SELECT c.description FROM courses c WHERE c.id = course))
$$;
