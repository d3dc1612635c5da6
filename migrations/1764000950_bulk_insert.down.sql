-- Down of migration 1764000950, frozen: the AFTER INSERT triggers without the
-- switch, as 1764000720 and 1764000810 created them, and no switch table.
-- Statements end with ';' and a blank line.

DROP TRIGGER IF EXISTS crm_match_contacts_ai;

CREATE TRIGGER crm_match_contacts_ai AFTER INSERT ON contacts BEGIN INSERT INTO crm_match_changes (workspace, k0, k1, k2, k3, k4) SELECT new.workspace, CASE WHEN trim(new.primary_email) != '' THEN lower(trim(new.primary_email)) END, CASE WHEN trim(new.primary_phone) != '' THEN replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '') END, CASE WHEN trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)) END, CASE WHEN instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '') THEN lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)) END, CASE WHEN trim(new.first_name) != '' AND trim(new.last_name) != '' THEN lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1) END
		WHERE EXISTS (SELECT 1 FROM workspaces WHERE id = new.workspace);
	INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_email', lower(trim(new.primary_email)), new.id, '' WHERE trim(new.primary_email) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_phone', replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), new.id, '' WHERE trim(new.primary_phone) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_company', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)), new.id, '' WHERE trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_email_domain', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)), new.id, '' WHERE instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'similar_name', lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1), new.id, lower(trim(new.first_name)) WHERE trim(new.first_name) != '' AND trim(new.last_name) != '';
			 END;

DROP TRIGGER IF EXISTS crm_counts_contacts_ai;

CREATE TRIGGER crm_counts_contacts_ai AFTER INSERT ON contacts BEGIN INSERT INTO crm_contact_counts (workspace, n) VALUES (new.workspace, 1)
			ON CONFLICT (workspace) DO UPDATE SET n = n + 1; END;

DROP TABLE IF EXISTS crm_bulk_insert;
