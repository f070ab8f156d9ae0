-- Issue #17: Normalized e-mail addresses (expand: a nullable column, no rewrite)
-- Generated: 2025-01-02 00:00:00
-- Author: migrator example
-- Downtime Required: No (online migration)

-- ============ UP MIGRATION ============
ALTER TABLE accounts ADD COLUMN email_normalized VARCHAR(200);

-- ============ DOWN MIGRATION ============
ALTER TABLE accounts DROP COLUMN email_normalized;
