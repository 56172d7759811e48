-- Badges awarded by declarative rules (seed 002), and the XP scale (seed 003).

INSERT INTO badges (code, name, description, media) VALUES
    ('first_try_pass', 'Sharp Shooter', 'Passed a module quiz on the first try', '{"emoji": "🎯"}'),
    ('streak_3', 'On a Roll', 'Completed journeys 3 days in a row', '{"emoji": "🔥"}'),
    ('streak_7', 'Week Warrior', 'Completed journeys 7 days in a row', '{"emoji": "🗓️"}'),
    ('streak_30', 'Unstoppable', 'Completed journeys 30 days in a row', '{"emoji": "🏆"}'),
    ('module_complete', 'Module Master', 'Completed every journey of a module and its quiz',
     '{"emoji": "📗"}'),
    ('course_complete', 'Graduate', 'Completed a whole course', '{"emoji": "🎓"}'),
    ('fastest_quiz', 'Quick Thinker', 'Passed a module quiz in under two minutes',
     '{"emoji": "⚡"}')
ON CONFLICT (code) DO NOTHING;

INSERT INTO badge_rules (badge_id, type, criteria)
SELECT b.id, r.type, r.criteria::jsonb
FROM (VALUES
    ('first_try_pass', 'first_try_pass', '{}'),
    ('streak_3', 'streak', '{"days": 3}'),
    ('streak_7', 'streak', '{"days": 7}'),
    ('streak_30', 'streak', '{"days": 30}'),
    ('module_complete', 'module_complete', '{}'),
    ('course_complete', 'course_complete', '{}'),
    ('fastest_quiz', 'fastest_quiz', '{"max_seconds": 120}')
) AS r (code, type, criteria)
JOIN badges b ON b.code = r.code;

-- XP multiplier per difficulty (seed 003: easy 1x, medium 2x, hard 3x), kept in the database so
-- analytics and awards agree.
CREATE FUNCTION difficulty_multiplier(d difficulty) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE d WHEN 'easy' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END;

-- A quiz attempt knows when it ended; duration feeds the fastest-quiz badge.
ALTER TABLE quiz_attempts
    ADD CONSTRAINT quiz_attempts_completed_after_start
    CHECK (completed_at IS NULL OR completed_at >= started_at);
