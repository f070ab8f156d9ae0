-- Issue #212: User preferences
-- Generated: 2024-01-12 09:15:33
-- Author: /migrate command
-- Estimated Duration: 1 second
-- Downtime Required: No (new table)

-- ============ UP MIGRATION ============
-- The PostgreSQL variant: users.id is a UUID here, and the flag a boolean.
BEGIN;
CREATE TABLE user_preferences (
    user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    theme TEXT NOT NULL DEFAULT 'light' CHECK (length(theme) <= 10),
    language TEXT NOT NULL DEFAULT 'en' CHECK (length(language) <= 8),
    weekly_digest BOOLEAN NOT NULL DEFAULT true,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_user_preferences_language ON user_preferences(language);
INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240112091533', 'user_preferences', 212, now());
COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;
DELETE FROM schema_migrations WHERE version = '20240112091533';
DROP TABLE IF EXISTS user_preferences;
COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 1 (user_preferences)
-- Indexes created: 1
