-- Issue #17: Accounts of the async example
-- Generated: 2025-01-01 00:00:00
-- Author: migrator example

-- ============ UP MIGRATION ============
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email VARCHAR(200) NOT NULL,
    created_at VARCHAR(32) NOT NULL DEFAULT 'unknown'
);

-- ============ DOWN MIGRATION ============
DROP TABLE accounts;
