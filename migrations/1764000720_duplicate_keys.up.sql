-- Migration 1764000720 (duplicate finder state), frozen: the statements
-- search.DropMatchSchema + search.MatchSchema produced when it was frozen,
-- then the backfill of the existing contacts' keys and one change-log row per
-- contact (the first page read per workspace builds its groups from the log).
-- Never edit: a later change of the finder's schema is a new migration.
-- Statements end with ';' and a blank line (migrations/sqlfiles.go).

DROP TRIGGER IF EXISTS crm_match_workspaces_ad;

DROP TRIGGER IF EXISTS crm_match_contacts_au;

DROP TRIGGER IF EXISTS crm_match_contacts_ad;

DROP TRIGGER IF EXISTS crm_match_contacts_ai;

DROP TRIGGER IF EXISTS crm_match_keys_ad;

DROP TRIGGER IF EXISTS crm_match_keys_ai;

DROP TABLE IF EXISTS crm_match_found;

DROP TABLE IF EXISTS crm_match_changes;

DROP TABLE IF EXISTS crm_match_groups;

DROP TABLE IF EXISTS crm_match_keys;

CREATE TABLE IF NOT EXISTS crm_match_keys (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			contact TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (workspace, reason, key, contact)) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS crm_match_changes (id INTEGER PRIMARY KEY, workspace TEXT NOT NULL,
			k0 TEXT, k1 TEXT, k2 TEXT, k3 TEXT, k4 TEXT);

CREATE INDEX IF NOT EXISTS idx_crm_match_changes ON crm_match_changes (workspace);

CREATE TABLE IF NOT EXISTS crm_match_found (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			score REAL NOT NULL, ids TEXT NOT NULL, PRIMARY KEY (workspace, reason, key)) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_crm_match_found_page ON crm_match_found (workspace, score DESC, reason, key);

CREATE TRIGGER IF NOT EXISTS crm_match_contacts_ai AFTER INSERT ON contacts BEGIN INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT new.workspace, CASE WHEN trim(new.primary_email) != '' THEN lower(trim(new.primary_email)) END, CASE WHEN trim(new.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)) END, CASE WHEN instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)) END, CASE WHEN trim(new.first_name) != '' AND trim(new.last_name) != '' THEN lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1) END
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = new.workspace);
	INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_email', lower(trim(new.primary_email)), new.id, '' WHERE trim(new.primary_email) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_phone', replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), new.id, '' WHERE trim(new.primary_phone) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_company', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)), new.id, '' WHERE trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_email_domain', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)), new.id, '' WHERE instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'similar_name', lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1), new.id, lower(trim(new.first_name)) WHERE trim(new.first_name) != '' AND trim(new.last_name) != '';
			 END;

CREATE TRIGGER IF NOT EXISTS crm_match_contacts_ad AFTER DELETE ON contacts BEGIN INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT old.workspace, CASE WHEN trim(old.primary_email) != '' THEN lower(trim(old.primary_email)) END, CASE WHEN trim(old.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(old.company) != '' AND (trim(old.first_name) != '' OR trim(old.last_name) != '') THEN lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company)) END, CASE WHEN instr(old.primary_email, '@') > 0 AND (trim(old.first_name) != '' OR trim(old.last_name) != '') THEN lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1)) END, CASE WHEN trim(old.first_name) != '' AND trim(old.last_name) != '' THEN lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1) END
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = old.workspace);
	DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_email' AND key = (lower(trim(old.primary_email))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_phone' AND key = (replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_company' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_email_domain' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'similar_name' AND key = (lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1)) AND contact = old.id;
			 END;

CREATE TRIGGER IF NOT EXISTS crm_match_contacts_au AFTER UPDATE OF id, workspace, first_name, last_name, primary_email, primary_phone, company ON contacts
			WHEN old.id IS NOT new.id OR old.workspace IS NOT new.workspace OR old.first_name IS NOT new.first_name
			  OR old.last_name IS NOT new.last_name OR old.primary_email IS NOT new.primary_email
			  OR old.primary_phone IS NOT new.primary_phone OR old.company IS NOT new.company
			BEGIN INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT old.workspace, CASE WHEN trim(old.primary_email) != '' THEN lower(trim(old.primary_email)) END, CASE WHEN trim(old.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(old.company) != '' AND (trim(old.first_name) != '' OR trim(old.last_name) != '') THEN lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company)) END, CASE WHEN instr(old.primary_email, '@') > 0 AND (trim(old.first_name) != '' OR trim(old.last_name) != '') THEN lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1)) END, CASE WHEN trim(old.first_name) != '' AND trim(old.last_name) != '' THEN lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1) END
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = old.workspace);
	DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_email' AND key = (lower(trim(old.primary_email))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_phone' AND key = (replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_company' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_email_domain' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'similar_name' AND key = (lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1)) AND contact = old.id;
			INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT new.workspace, CASE WHEN trim(new.primary_email) != '' THEN lower(trim(new.primary_email)) END, CASE WHEN trim(new.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)) END, CASE WHEN instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)) END, CASE WHEN trim(new.first_name) != '' AND trim(new.last_name) != '' THEN lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1) END
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = new.workspace);
	INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_email', lower(trim(new.primary_email)), new.id, '' WHERE trim(new.primary_email) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_phone', replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), new.id, '' WHERE trim(new.primary_phone) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_company', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)), new.id, '' WHERE trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_email_domain', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)), new.id, '' WHERE instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'similar_name', lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1), new.id, lower(trim(new.first_name)) WHERE trim(new.first_name) != '' AND trim(new.last_name) != '';
			 END;

CREATE TRIGGER IF NOT EXISTS crm_match_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_match_keys WHERE workspace = old.id;
			DELETE FROM crm_match_changes WHERE workspace = old.id;
			DELETE FROM crm_match_found WHERE workspace = old.id;
		END;

DELETE FROM crm_match_keys;

DELETE FROM crm_match_found;

DELETE FROM crm_match_changes;

INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_email' AS reason, lower(trim(c.primary_email)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE trim(c.primary_email) != '';

INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_phone' AS reason, replace(replace(replace(replace(replace(trim(c.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') AS key, c.id AS contact, '' AS detail FROM contacts c WHERE trim(c.primary_phone) != '';

INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_name_company' AS reason, lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(trim(c.company)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE trim(c.company) != '' AND (trim(c.first_name) != '' OR trim(c.last_name) != '');

INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_name_email_domain' AS reason, lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(substr(trim(c.primary_email), instr(trim(c.primary_email), '@') + 1)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE instr(c.primary_email, '@') > 0 AND (trim(c.first_name) != '' OR trim(c.last_name) != '');

INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'similar_name' AS reason, lower(trim(c.last_name)) || ' ' || substr(lower(trim(c.first_name)), 1, 1) AS key, c.id AS contact, lower(trim(c.first_name)) AS detail FROM contacts c WHERE trim(c.first_name) != '' AND trim(c.last_name) != '';

INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT c.workspace, CASE WHEN trim(c.primary_email) != '' THEN lower(trim(c.primary_email)) END, CASE WHEN trim(c.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(c.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(c.company) != '' AND (trim(c.first_name) != '' OR trim(c.last_name) != '') THEN lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(trim(c.company)) END, CASE WHEN instr(c.primary_email, '@') > 0 AND (trim(c.first_name) != '' OR trim(c.last_name) != '') THEN lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(substr(trim(c.primary_email), instr(trim(c.primary_email), '@') + 1)) END, CASE WHEN trim(c.first_name) != '' AND trim(c.last_name) != '' THEN lower(trim(c.last_name)) || ' ' || substr(lower(trim(c.first_name)), 1, 1) END FROM contacts c WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = c.workspace) ORDER BY c.rowid;
