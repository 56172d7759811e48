-- Keep each passage's vector in its row. A 384-d vector (1.5 kB) plus the text and tsvector
-- passes PostgreSQL's 2 kB TOAST threshold, and the vector, the widest value, went out of line:
-- an exact scan of a 10k-passage course then read three buffers per passage (heap, TOAST
-- index, TOAST heap), 31k in all, instead of the ~2.5k pages that hold them inline (3x faster
-- in bench/rag.py's 10k course). With PLAIN storage the text and tsvector are moved out of
-- line instead, and only queries that show a passage read them.
ALTER TABLE course_chunks ALTER COLUMN embedding SET STORAGE PLAIN;

-- Rows already stored keep their out-of-line vectors until rewritten: rewrite them now (same
-- values; the text, and so the postings and updated_at, are untouched).
ALTER TABLE course_chunks DISABLE TRIGGER course_chunks_updated_at;
ALTER TABLE course_chunks DISABLE TRIGGER course_terms_update;
UPDATE course_chunks SET embedding = embedding::text::vector WHERE embedding IS NOT NULL;
ALTER TABLE course_chunks ENABLE TRIGGER course_chunks_updated_at;
ALTER TABLE course_chunks ENABLE TRIGGER course_terms_update;
