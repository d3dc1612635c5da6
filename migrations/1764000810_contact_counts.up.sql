-- Migration 1764000810 (contacts per workspace), frozen: the statements
-- search.DropCountSchema + search.CountSchema produced, then the recount of
-- search.BackfillContactCounts. Never edit: a change is a new migration.
-- Statements end with ';' and a blank line (migrations/sqlfiles.go).

DROP TRIGGER IF EXISTS crm_counts_workspaces_ad;

DROP TRIGGER IF EXISTS crm_counts_contacts_au;

DROP TRIGGER IF EXISTS crm_counts_contacts_ad;

DROP TRIGGER IF EXISTS crm_counts_contacts_ai;

DROP TABLE IF EXISTS crm_contact_counts;

CREATE TABLE IF NOT EXISTS crm_contact_counts (workspace TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_ai AFTER INSERT ON contacts BEGIN INSERT INTO crm_contact_counts (workspace, n) VALUES (new.workspace, 1)
			ON CONFLICT (workspace) DO UPDATE SET n = n + 1; END;

CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_ad AFTER DELETE ON contacts BEGIN UPDATE crm_contact_counts SET n = n - 1 WHERE workspace = old.workspace; END;

CREATE TRIGGER IF NOT EXISTS crm_counts_contacts_au AFTER UPDATE OF workspace ON contacts
			WHEN old.workspace IS NOT new.workspace BEGIN UPDATE crm_contact_counts SET n = n - 1 WHERE workspace = old.workspace;INSERT INTO crm_contact_counts (workspace, n) VALUES (new.workspace, 1)
			ON CONFLICT (workspace) DO UPDATE SET n = n + 1; END;

CREATE TRIGGER IF NOT EXISTS crm_counts_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_contact_counts WHERE workspace = old.id;
		END;

DELETE FROM crm_contact_counts;

INSERT INTO crm_contact_counts (workspace, n) SELECT workspace, COUNT(*) FROM contacts GROUP BY workspace;
