-- Issue #187: CRM base schema (users, contacts, activities)
-- Generated: 2024-01-08 11:30:21
-- Author: /migrate command
-- Estimated Duration: 1 second
-- Downtime Required: No (new tables)

-- ============ UP MIGRATION ============
-- The PostgreSQL variant of ../20240108113021_issue_187_crm_base_schema.sql: UUID keys, timestamptz, and
-- the trigger through a function (PostgreSQL triggers call functions; SQLite's have a body).
BEGIN;

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id UUID REFERENCES users(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_contacts_owner ON contacts(owner_id);

-- Keep updated_at current.
CREATE FUNCTION update_updated_at_column() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER update_contacts_timestamp
    BEFORE UPDATE ON contacts
    FOR EACH ROW WHEN (NEW.updated_at = OLD.updated_at)
    EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE activities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    owner_id UUID REFERENCES users(id),
    type TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at TIMESTAMPTZ
);
CREATE INDEX idx_activities_legacy_type ON activities(type);

INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240108113021', 'crm_base_schema', 187, now());

COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;
DELETE FROM schema_migrations WHERE version = '20240108113021';
DROP TABLE IF EXISTS activities;
DROP TABLE IF EXISTS contacts;
DROP FUNCTION IF EXISTS update_updated_at_column();
DROP TABLE IF EXISTS users;
COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 3 (users, contacts, activities)
-- Rows affected: 0
-- Indexes created: 2
-- Blocking: none (new tables)
