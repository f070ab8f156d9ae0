-- Issue #212: User preferences
-- Generated: 2024-01-12 09:15:33
-- Author: /migrate command
-- Estimated Duration: 1 second
-- Downtime Required: No (new table)

-- ============ UP MIGRATION ============
-- The MySQL/MariaDB variant: a CHAR key and a table-level foreign key.
BEGIN;
CREATE TABLE user_preferences (
    user_id CHAR(32) NOT NULL,
    theme VARCHAR(10) NOT NULL DEFAULT 'light',
    language VARCHAR(8) NOT NULL DEFAULT 'en',
    weekly_digest TINYINT NOT NULL DEFAULT 1 CHECK (weekly_digest IN (0, 1)),
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (user_id),
    KEY idx_user_preferences_language (language),
    CONSTRAINT fk_user_preferences_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240112091533', 'user_preferences', 212, CURRENT_TIMESTAMP);
COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;
DELETE FROM schema_migrations WHERE version = '20240112091533';
DROP TABLE IF EXISTS user_preferences;
COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 1 (user_preferences)
-- Indexes created: 1
