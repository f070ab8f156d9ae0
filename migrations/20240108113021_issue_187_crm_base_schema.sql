-- Issue #187: CRM base schema (users, contacts, activities)
-- Generated: 2024-01-08 11:30:21
-- Author: /migrate command
-- Estimated Duration: 1 second
-- Downtime Required: No (new tables)

-- ============ UP MIGRATION ============
BEGIN;

CREATE TABLE users (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    owner_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    email TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_contacts_owner ON contacts(owner_id);

-- Keep updated_at current (the SQLite form of update_updated_at_column()).
CREATE TRIGGER update_contacts_timestamp
    AFTER UPDATE ON contacts
    FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE contacts SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;

CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    owner_id TEXT REFERENCES users(id),
    type TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at TEXT
);
CREATE INDEX idx_activities_legacy_type ON activities(type);

INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240108113021', 'crm_base_schema', 187, CURRENT_TIMESTAMP);

COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;
DELETE FROM schema_migrations WHERE version = '20240108113021';
DROP TABLE IF EXISTS activities;
DROP TRIGGER IF EXISTS update_contacts_timestamp;
DROP TABLE IF EXISTS contacts;
DROP TABLE IF EXISTS users;
COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 3 (users, contacts, activities)
-- Rows affected: 0
-- Indexes created: 2
-- Blocking: none (new tables)
