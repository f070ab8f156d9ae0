-- Issue #17: Normalized e-mail addresses (the index the lookups use, once every row has its value)
-- Generated: 2025-01-04 00:00:00
-- Author: migrator example

-- ============ UP MIGRATION ============
CREATE INDEX accounts_email_normalized ON accounts (email_normalized);

-- ============ DOWN MIGRATION ============
DROP INDEX accounts_email_normalized;
