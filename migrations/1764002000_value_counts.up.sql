-- Migration 1764002000 (kept counts of select values: services/counts/values.go),
-- frozen: the statements counts.ValueCountSchema and counts.ValueInsertTriggerSQL
-- (with the bulk-insert switch of services/contacts) produced. Never edit.
-- The counted fields start empty: customfields.SyncValueIndexes fills them
-- and, at the server's start, customfields.SyncCounted (hooks/customfields.go).
-- Statements end with ';' and a blank line (migrations/sqlfiles.go).

CREATE TABLE IF NOT EXISTS crm_counted_fields (workspace TEXT NOT NULL, field TEXT NOT NULL, path TEXT NOT NULL,
			PRIMARY KEY (workspace, field)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS crm_value_counts (workspace TEXT NOT NULL, field TEXT NOT NULL,
			value TEXT NOT NULL COLLATE NOCASE, n INTEGER NOT NULL, PRIMARY KEY (workspace, field, value)) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS crm_vcounts_contacts_ad AFTER DELETE ON contacts WHEN EXISTS (SELECT 1 FROM crm_counted_fields WHERE workspace = old.workspace) BEGIN UPDATE crm_value_counts SET n = n - 1
			WHERE workspace = old.workspace AND (field, value) IN (SELECT f.field, json_extract(old.custom, f.path)
			FROM crm_counted_fields f WHERE f.workspace = old.workspace AND typeof(json_extract(old.custom, f.path)) = 'text' AND TRUE); END;

CREATE TRIGGER IF NOT EXISTS crm_vcounts_contacts_au AFTER UPDATE OF workspace, custom ON contacts
			WHEN (old.custom IS NOT new.custom OR old.workspace IS NOT new.workspace)
			  AND (EXISTS (SELECT 1 FROM crm_counted_fields WHERE workspace = old.workspace) OR EXISTS (SELECT 1 FROM crm_counted_fields WHERE workspace = new.workspace)) BEGIN UPDATE crm_value_counts SET n = n - 1
			WHERE workspace = old.workspace AND (field, value) IN (SELECT f.field, json_extract(old.custom, f.path)
			FROM crm_counted_fields f WHERE f.workspace = old.workspace AND typeof(json_extract(old.custom, f.path)) = 'text' AND (old.workspace IS NOT new.workspace OR json_extract(old.custom, f.path) IS NOT json_extract(new.custom, f.path)));INSERT INTO crm_value_counts (workspace, field, value, n)
			SELECT new.workspace, f.field, json_extract(new.custom, f.path), 1 FROM crm_counted_fields f
			WHERE f.workspace = new.workspace AND typeof(json_extract(new.custom, f.path)) = 'text' AND (old.workspace IS NOT new.workspace OR json_extract(old.custom, f.path) IS NOT json_extract(new.custom, f.path))
			ON CONFLICT (workspace, field, value) DO UPDATE SET n = n + 1; END;

CREATE TRIGGER IF NOT EXISTS crm_vcounts_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_value_counts WHERE workspace = old.id;
			DELETE FROM crm_counted_fields WHERE workspace = old.id;
		END;

DROP TRIGGER IF EXISTS crm_vcounts_contacts_ai;

CREATE TRIGGER crm_vcounts_contacts_ai AFTER INSERT ON contacts WHEN NOT EXISTS (SELECT 1 FROM crm_bulk_insert WHERE workspace = new.workspace) AND EXISTS (SELECT 1 FROM crm_counted_fields WHERE workspace = new.workspace) BEGIN INSERT INTO crm_value_counts (workspace, field, value, n)
			SELECT new.workspace, f.field, json_extract(new.custom, f.path), 1 FROM crm_counted_fields f
			WHERE f.workspace = new.workspace AND typeof(json_extract(new.custom, f.path)) = 'text' AND TRUE
			ON CONFLICT (workspace, field, value) DO UPDATE SET n = n + 1; END;

