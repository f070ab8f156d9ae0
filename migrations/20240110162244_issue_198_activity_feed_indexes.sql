-- Issue #198: Speed up the activity feed
-- Generated: 2024-01-10 16:22:44
-- Author: /migrate command
-- Estimated Duration: 2 seconds
-- Downtime Required: No (SQLite builds the indexes under its write lock; reads go on)

-- ============ UP MIGRATION ============
-- SQLite has no CONCURRENTLY: the index builds hold the database write lock briefly.
CREATE INDEX idx_activities_contact_created ON activities (contact_id, created_at DESC);
CREATE INDEX idx_activities_owner ON activities (owner_id) WHERE deleted_at IS NULL;
DROP INDEX IF EXISTS idx_activities_legacy_type;

-- ============ DOWN MIGRATION ============
CREATE INDEX idx_activities_legacy_type ON activities(type);
DROP INDEX IF EXISTS idx_activities_owner;
DROP INDEX IF EXISTS idx_activities_contact_created;

-- ============ MIGRATION METRICS ============
-- Tables affected: 1 (activities)
-- Indexes created: 2, dropped: 1
