-- users.locale (from 0001) becomes the learner's language for the bot's texts and for course
-- content that has a version in it: a short language tag ('en', 'fil'), which the bot maps
-- Telegram's language_code onto before writing it.
UPDATE users SET locale = 'en' WHERE locale !~ '^[a-z]{2,3}$';
ALTER TABLE users ADD CONSTRAINT users_locale_tag CHECK (locale ~ '^[a-z]{2,3}$');
