-- Migration 1764001900 (deferred match keys: services/duplicates/pending.go),
-- frozen: the statements duplicates.MatchSchema produced. Never edit.
-- Statements end with ';' and a blank line (migrations/sqlfiles.go).

CREATE TABLE IF NOT EXISTS crm_match_pending (workspace TEXT PRIMARY KEY NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL) WITHOUT ROWID;

DROP TRIGGER IF EXISTS crm_match_workspaces_ad;

CREATE TRIGGER IF NOT EXISTS crm_match_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_match_keys WHERE workspace = old.id;
			DELETE FROM crm_match_changes WHERE workspace = old.id;
			DELETE FROM crm_match_found WHERE workspace = old.id;
			DELETE FROM crm_match_pending WHERE workspace = old.id;
		END;
