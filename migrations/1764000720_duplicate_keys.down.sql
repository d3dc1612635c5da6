-- Down of migration 1764000720, frozen (search.DropMatchSchema, and the first
-- version's objects). Statements end with ';' and a blank line.

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
