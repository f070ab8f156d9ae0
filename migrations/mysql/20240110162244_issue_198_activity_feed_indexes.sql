-- Issue #198: Speed up the activity feed
-- Generated: 2024-01-10 16:22:44
-- Author: /migrate command
-- Estimated Duration: 2 seconds
-- Downtime Required: No (InnoDB builds secondary indexes online)

-- ============ UP MIGRATION ============
-- The MySQL/MariaDB variant: no partial indexes (the owner index takes deleted_at as a second column), and
-- DROP INDEX names its table.
CREATE INDEX idx_activities_contact_created ON activities (contact_id, created_at DESC);
CREATE INDEX idx_activities_owner ON activities (owner_id, deleted_at);
DROP INDEX idx_activities_legacy_type ON activities;

-- ============ DOWN MIGRATION ============
CREATE INDEX idx_activities_legacy_type ON activities (type);
DROP INDEX idx_activities_owner ON activities;
DROP INDEX idx_activities_contact_created ON activities;

-- ============ MIGRATION METRICS ============
-- Tables affected: 1 (activities)
-- Indexes created: 2, dropped: 1
