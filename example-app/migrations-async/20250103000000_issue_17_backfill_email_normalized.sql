-- Issue #17: Normalized e-mail addresses (backfill, in batches while the service runs)
-- Generated: 2025-01-03 00:00:00
-- Author: migrator example
-- Downtime Required: No (batches of short transactions)
-- migrator:backfill table=accounts key=id batch=2000 target=100ms

-- ============ UP MIGRATION ============
UPDATE accounts SET email_normalized = lower(trim(email)) WHERE email_normalized IS NULL;

-- ============ DOWN MIGRATION ============
-- Nothing to undo: the column is dropped by the DOWN of 20250102000000.
