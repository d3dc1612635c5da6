-- The duplicate finder's objects as migration 1764000720 left them at commit ce77dd8
-- (sqlite_master of a fresh install then): a database upgraded from that
-- version (migrations/upgrade_test.go). Statements end with ';' and a blank line.

CREATE TABLE crm_match_changes (id INTEGER PRIMARY KEY, workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL);

CREATE TABLE crm_match_found (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			score REAL NOT NULL, ids TEXT NOT NULL, PRIMARY KEY (workspace, reason, key)) WITHOUT ROWID;

CREATE TABLE crm_match_keys (workspace TEXT NOT NULL, reason TEXT NOT NULL, key TEXT NOT NULL,
			contact TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', PRIMARY KEY (workspace, reason, key, contact)) WITHOUT ROWID;

CREATE INDEX idx_crm_match_changes ON crm_match_changes (workspace, reason);

CREATE INDEX idx_crm_match_found_page ON crm_match_found (workspace, score DESC, reason, key);

CREATE TRIGGER crm_match_contacts_ad AFTER DELETE ON contacts BEGIN DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_email' AND key = (lower(trim(old.primary_email))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_phone' AND key = (replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_company' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_email_domain' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'similar_name' AND key = (lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1)) AND contact = old.id;
			 END;

CREATE TRIGGER crm_match_contacts_ai AFTER INSERT ON contacts BEGIN INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_email', lower(trim(new.primary_email)), new.id, '' WHERE trim(new.primary_email) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_phone', replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), new.id, '' WHERE trim(new.primary_phone) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_company', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)), new.id, '' WHERE trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_email_domain', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)), new.id, '' WHERE instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'similar_name', lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1), new.id, lower(trim(new.first_name)) WHERE trim(new.first_name) != '' AND trim(new.last_name) != '';
			 END;

CREATE TRIGGER crm_match_contacts_au AFTER UPDATE OF id, workspace, first_name, last_name, primary_email, primary_phone, company ON contacts
			WHEN old.id IS NOT new.id OR old.workspace IS NOT new.workspace OR old.first_name IS NOT new.first_name
			  OR old.last_name IS NOT new.last_name OR old.primary_email IS NOT new.primary_email
			  OR old.primary_phone IS NOT new.primary_phone OR old.company IS NOT new.company
			BEGIN DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_email' AND key = (lower(trim(old.primary_email))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_phone' AND key = (replace(replace(replace(replace(replace(trim(old.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_company' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(trim(old.company))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'same_name_email_domain' AND key = (lower(trim(old.first_name)) || ' ' || lower(trim(old.last_name)) || ' @ ' || lower(substr(trim(old.primary_email), instr(trim(old.primary_email), '@') + 1))) AND contact = old.id;
			DELETE FROM crm_match_keys WHERE workspace = old.workspace AND reason = 'similar_name' AND key = (lower(trim(old.last_name)) || ' ' || substr(lower(trim(old.first_name)), 1, 1)) AND contact = old.id;
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_email', lower(trim(new.primary_email)), new.id, '' WHERE trim(new.primary_email) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_phone', replace(replace(replace(replace(replace(trim(new.primary_phone), ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), new.id, '' WHERE trim(new.primary_phone) != '';
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_company', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(trim(new.company)), new.id, '' WHERE trim(new.company) != '' AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'same_name_email_domain', lower(trim(new.first_name)) || ' ' || lower(trim(new.last_name)) || ' @ ' || lower(substr(trim(new.primary_email), instr(trim(new.primary_email), '@') + 1)), new.id, '' WHERE instr(new.primary_email, '@') > 0 AND (trim(new.first_name) != '' OR trim(new.last_name) != '');
			INSERT INTO crm_match_keys (workspace, reason, key, contact, detail) SELECT new.workspace, 'similar_name', lower(trim(new.last_name)) || ' ' || substr(lower(trim(new.first_name)), 1, 1), new.id, lower(trim(new.first_name)) WHERE trim(new.first_name) != '' AND trim(new.last_name) != '';
			 END;

CREATE TRIGGER crm_match_keys_ad AFTER DELETE ON crm_match_keys BEGIN
			INSERT INTO crm_match_changes (workspace, reason, key) VALUES (old.workspace, old.reason, old.key);
		END;

CREATE TRIGGER crm_match_keys_ai AFTER INSERT ON crm_match_keys BEGIN
			INSERT INTO crm_match_changes (workspace, reason, key) VALUES (new.workspace, new.reason, new.key);
		END;

CREATE TRIGGER crm_match_workspaces_ad AFTER DELETE ON workspaces BEGIN
			DELETE FROM crm_match_keys WHERE workspace = old.id;
			DELETE FROM crm_match_changes WHERE workspace = old.id;
			DELETE FROM crm_match_found WHERE workspace = old.id;
		END;
