-- Down of migration 1764002000, frozen: the kept value counts go.
-- Statements end with ';' and a blank line.

DROP TRIGGER IF EXISTS crm_vcounts_contacts_ai;

DROP TRIGGER IF EXISTS crm_vcounts_contacts_ad;

DROP TRIGGER IF EXISTS crm_vcounts_contacts_au;

DROP TRIGGER IF EXISTS crm_vcounts_workspaces_ad;

DROP TABLE IF EXISTS crm_value_counts;

DROP TABLE IF EXISTS crm_counted_fields;
