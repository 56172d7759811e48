-- A learner's time zone must be one PostgreSQL itself can use: Python's zoneinfo also accepts
-- names like 'localtime', 'posixrules' or 'posix/...' that PostgreSQL rejects, after which
-- every local-date computation for that learner would fail.
CREATE FUNCTION is_time_zone(name text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF name IS NULL OR name = '' THEN
        RETURN false;
    END IF;
    PERFORM timestamptz '2000-01-01 00:00+00' AT TIME ZONE name;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

UPDATE users SET timezone = 'UTC' WHERE NOT is_time_zone(timezone);
ALTER TABLE users ADD CONSTRAINT users_timezone_known CHECK (is_time_zone(timezone));
