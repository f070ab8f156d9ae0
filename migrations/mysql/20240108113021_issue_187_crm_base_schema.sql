-- Issue #187: CRM base schema (users, contacts, activities)
-- Generated: 2024-01-08 11:30:21
-- Author: /migrate command
-- Estimated Duration: 1 second
-- Downtime Required: No (new tables)

-- ============ UP MIGRATION ============
-- The MySQL/MariaDB variant of ../20240108113021_issue_187_crm_base_schema.sql: keys and indexed text are
-- CHAR/VARCHAR (TEXT takes no plain index), foreign keys are table constraints (MySQL ignores a column's
-- REFERENCES), updated_at is kept current by ON UPDATE instead of a trigger, and every foreign key
-- column has an index of its own (InnoDB would otherwise drop its implicit one when a later index
-- covers the column, and that later index could not be dropped again).
-- MySQL commits DDL implicitly: BEGIN/COMMIT only keep the file runnable standalone.
BEGIN;

CREATE TABLE users (
    id CHAR(32) NOT NULL DEFAULT (replace(uuid(), '-', '')),
    email VARCHAR(255) NOT NULL,
    display_name VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_email (email)
);

CREATE TABLE contacts (
    id CHAR(32) NOT NULL DEFAULT (replace(uuid(), '-', '')),
    owner_id CHAR(32) NULL,
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY idx_contacts_owner (owner_id),
    CONSTRAINT fk_contacts_owner FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE activities (
    id BIGINT NOT NULL AUTO_INCREMENT,
    contact_id CHAR(32) NOT NULL,
    owner_id CHAR(32) NULL,
    type VARCHAR(50) NOT NULL,
    note TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    deleted_at DATETIME NULL,
    PRIMARY KEY (id),
    KEY idx_activities_contact (contact_id),
    KEY idx_activities_owner_fk (owner_id),
    KEY idx_activities_legacy_type (type),
    CONSTRAINT fk_activities_contact FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE,
    CONSTRAINT fk_activities_owner FOREIGN KEY (owner_id) REFERENCES users (id)
);

INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240108113021', 'crm_base_schema', 187, CURRENT_TIMESTAMP);

COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;
DELETE FROM schema_migrations WHERE version = '20240108113021';
DROP TABLE IF EXISTS activities;
DROP TABLE IF EXISTS contacts;
DROP TABLE IF EXISTS users;
COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 3 (users, contacts, activities)
-- Rows affected: 0
-- Indexes created: 4
-- Blocking: none (new tables)
