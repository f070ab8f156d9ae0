-- Issue #234: Advanced Contact Enrichment
-- Generated: 2024-01-15 14:30:22
-- Author: /migrate command
-- Estimated Duration: 45 seconds
-- Downtime Required: No (InnoDB adds the columns in place)

-- ============ UP MIGRATION ============
-- The MySQL/MariaDB variant: JSON data, CHAR keys, no partial index, ON UPDATE instead of a trigger.
-- MySQL commits DDL implicitly: BEGIN/COMMIT only keep the file runnable standalone.
BEGIN;

-- Add enrichment data table
CREATE TABLE contact_enrichment (
    id CHAR(32) NOT NULL DEFAULT (replace(uuid(), '-', '')),
    contact_id CHAR(32) NOT NULL,
    source VARCHAR(50) NOT NULL,
    source_id VARCHAR(255),
    data JSON NOT NULL,
    confidence_score DECIMAL(3,2) CHECK (confidence_score >= 0 AND confidence_score <= 1),
    fetched_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at DATETIME NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY idx_enrichment_contact_id (contact_id),
    KEY idx_enrichment_source (source),
    KEY idx_enrichment_expires (expires_at),
    CONSTRAINT fk_enrichment_contact FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE
);

-- Add enrichment status to contacts
ALTER TABLE contacts
    ADD COLUMN enrichment_status VARCHAR(20) DEFAULT 'pending',
    ADD COLUMN last_enriched_at DATETIME NULL,
    ADD COLUMN enrichment_score DECIMAL(3,2),
    ADD CONSTRAINT chk_enrichment_status
        CHECK (enrichment_status IN ('pending', 'enriched', 'failed', 'stale'));

-- Migrate existing data
UPDATE contacts
SET enrichment_status = 'pending'
WHERE enrichment_status IS NULL;

-- Add migration metadata
INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240115143022', 'contact_enrichment', 234, CURRENT_TIMESTAMP);

COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;

-- Remove migration metadata
DELETE FROM schema_migrations WHERE version = '20240115143022';

-- Drop new columns from contacts (the CHECK on enrichment_status first)
ALTER TABLE contacts
    DROP CONSTRAINT chk_enrichment_status,
    DROP COLUMN enrichment_score,
    DROP COLUMN last_enriched_at,
    DROP COLUMN enrichment_status;

-- Drop enrichment table
DROP TABLE IF EXISTS contact_enrichment;

COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 2 (contacts, contact_enrichment)
-- Rows affected: ~50,000 (UPDATE on contacts)
-- Indexes created: 3
-- Estimated time: 45 seconds
-- Blocking: ALTER TABLE contacts (in place, brief metadata lock)
-- Rollback time: 10 seconds
