-- migrations/20240115143022_issue_234_contact_enrichment.sql
-- Issue #234: Advanced Contact Enrichment
-- Generated: 2024-01-15 14:30:22
-- Author: /migrate command
-- Estimated Duration: 45 seconds
-- Downtime Required: No (online migration)

-- ============ UP MIGRATION ============
BEGIN;

-- Add enrichment data table
CREATE TABLE contact_enrichment (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    contact_id UUID NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    source VARCHAR(50) NOT NULL,
    source_id VARCHAR(255),
    data JSONB NOT NULL,
    confidence_score DECIMAL(3,2) CHECK (confidence_score >= 0 AND confidence_score <= 1),
    fetched_at TIMESTAMP NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMP NOT NULL DEFAULT NOW()
);

-- Add indexes for performance
CREATE INDEX idx_enrichment_contact_id ON contact_enrichment(contact_id);
CREATE INDEX idx_enrichment_source ON contact_enrichment(source);
CREATE INDEX idx_enrichment_expires ON contact_enrichment(expires_at) WHERE expires_at IS NOT NULL;

-- Add enrichment status to contacts
ALTER TABLE contacts 
ADD COLUMN enrichment_status VARCHAR(20) DEFAULT 'pending',
ADD COLUMN last_enriched_at TIMESTAMP,
ADD COLUMN enrichment_score DECIMAL(3,2);

-- Create update trigger
CREATE TRIGGER update_contact_enrichment_timestamp
    BEFORE UPDATE ON contact_enrichment
    FOR EACH ROW
    EXECUTE FUNCTION update_updated_at_column();

-- Add constraints
ALTER TABLE contacts
ADD CONSTRAINT chk_enrichment_status 
CHECK (enrichment_status IN ('pending', 'enriched', 'failed', 'stale'));

-- Migrate existing data
UPDATE contacts 
SET enrichment_status = 'pending' 
WHERE enrichment_status IS NULL;

-- Add migration metadata
INSERT INTO schema_migrations (version, name, issue_number, applied_at)
VALUES ('20240115143022', 'contact_enrichment', 234, NOW());

COMMIT;

-- ============ DOWN MIGRATION ============
BEGIN;

-- Remove migration metadata
DELETE FROM schema_migrations WHERE version = '20240115143022';

-- Drop new columns from contacts
ALTER TABLE contacts 
DROP COLUMN IF EXISTS enrichment_status,
DROP COLUMN IF EXISTS last_enriched_at,
DROP COLUMN IF EXISTS enrichment_score;

-- Drop enrichment table
DROP TABLE IF EXISTS contact_enrichment CASCADE;

COMMIT;

-- ============ MIGRATION METRICS ============
-- Tables affected: 2 (contacts, contact_enrichment)
-- Rows affected: ~50,000 (UPDATE on contacts)
-- Indexes created: 3
-- Estimated time: 45 seconds
-- Blocking: ALTER TABLE contacts (brief lock)
-- Rollback time: 10 seconds
