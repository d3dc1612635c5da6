-- Down of migration 1764001900, frozen: the keys still deferred are written
-- (the SQL of duplicates.SettleKeys for every pending range), then the
-- workspace trigger of 1764001050 comes back and the pending table goes.
-- Statements end with ';' and a blank line.

INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT c.workspace, CASE WHEN trim(c.primary_email) != '' THEN lower(trim(c.primary_email)) END, CASE WHEN trim(c.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(c.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(c.company) != '' AND (trim(c.first_name) != '' OR trim(c.last_name) != '') THEN lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(trim(c.company)) END, CASE WHEN instr(c.primary_email, '@') > 0 AND (trim(c.first_name) != '' OR trim(c.last_name) != '') THEN lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(substr(trim(c.primary_email), instr(trim(c.primary_email), '@') + 1)) END, CASE WHEN trim(c.first_name) != '' AND trim(c.last_name) != '' THEN lower(trim(c.last_name)) || ' ' || substr(lower(trim(c.first_name)), 1, 1) END FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = c.workspace) ORDER BY c.rowid;

INSERT OR IGNORE INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_email' AS reason, lower(trim(c.primary_email)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND trim(c.primary_email) != '' ORDER BY key, contact;

INSERT OR IGNORE INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_phone' AS reason, replace(replace(replace(replace(replace(trim(c.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') AS key, c.id AS contact, '' AS detail FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND trim(c.primary_phone) != '' ORDER BY key, contact;

INSERT OR IGNORE INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_name_company' AS reason, lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(trim(c.company)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND trim(c.company) != '' AND (trim(c.first_name) != '' OR trim(c.last_name) != '') ORDER BY key, contact;

INSERT OR IGNORE INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'same_name_email_domain' AS reason, lower(trim(c.first_name)) || ' ' || lower(trim(c.last_name)) || ' @ ' || lower(substr(trim(c.primary_email), instr(trim(c.primary_email), '@') + 1)) AS key, c.id AS contact, '' AS detail FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND instr(c.primary_email, '@') > 0 AND (trim(c.first_name) != '' OR trim(c.last_name) != '') ORDER BY key, contact;

INSERT OR IGNORE INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT c.workspace AS workspace, 'similar_name' AS reason, lower(trim(c.last_name)) || ' ' || substr(lower(trim(c.first_name)), 1, 1) AS key, c.id AS contact, lower(trim(c.first_name)) AS detail FROM contacts c WHERE EXISTS (SELECT 1 FROM crm_match_pending p WHERE p.workspace = c.workspace AND c.rowid BETWEEN p.lo AND p.hi) AND trim(c.first_name) != '' AND trim(c.last_name) != '' ORDER BY key, contact;

DROP TABLE IF EXISTS crm_match_pending;

DROP TRIGGER IF EXISTS crm_match_workspaces_ad;

CREATE TRIGGER IF NOT EXISTS crm_match_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_match_keys WHERE workspace = old.id;
			DELETE FROM crm_match_changes WHERE workspace = old.id;
			DELETE FROM crm_match_found WHERE workspace = old.id;
		END;

