-- Down of migration 1764000810, frozen (search.DropCountSchema).
-- Statements end with ';' and a blank line.

DROP TRIGGER IF EXISTS crm_counts_workspaces_ad;

DROP TRIGGER IF EXISTS crm_counts_contacts_au;

DROP TRIGGER IF EXISTS crm_counts_contacts_ad;

DROP TRIGGER IF EXISTS crm_counts_contacts_ai;

DROP TABLE IF EXISTS crm_contact_counts;
