// The dashboard's insights (services/insights) and its audit entries as
// sentences. The metrics and their numbers come from the server; this file
// only names them and links each to where its cause is fixed.

// METRICS: the card of each metric type, in the server's order.
export const METRICS = {
  contacts_added: { title: 'Contacts added', unit: 'in the last 7 days', link: '/contacts' },
  list_sizes: { title: 'Lists', unit: 'lists', link: '/settings/lists' },
  contacts_without_primary_list: { title: 'Without a primary list', unit: 'contacts', link: '/contacts' },
  contacts_without_email: { title: 'Without an email', unit: 'contacts', link: '/contacts' },
  contacts_without_phone: { title: 'Without a phone', unit: 'contacts', link: '/contacts' },
  duplicates: { title: 'Likely duplicates', unit: 'groups', link: '/merge' },
  not_contacted_90d: { title: 'Not contacted in 90 days', unit: 'contacts', link: '/contacts' },
  suppressions_added: { title: 'Suppressions added', unit: 'in the last 30 days', link: '' },
  import_errors: { title: 'Import errors', unit: 'rows in the last 30 days', link: '/import' },
  campaign_results: { title: 'Campaign results', unit: 'campaigns', link: '/campaigns' },
  provider_results: { title: 'Providers', unit: 'providers', link: '/settings' },
  ai_usage: { title: 'AI usage', unit: 'tokens this month', link: '/settings/ai' },
};

export function metricTitle(type) {
  return METRICS[type]?.title || type.replaceAll('_', ' ');
}

// trendOf: the arrow and words of a metric with a trend (contacts added).
export function trendOf(insight) {
  const d = insight?.data || {};
  if (!d.trend) return null;
  const arrow = { up: '↑', down: '↓', flat: '→' }[d.trend] || '';
  const pct = typeof d.change_pct === 'number' ? ` ${Math.abs(d.change_pct)}%` : '';
  return { arrow, dir: d.trend, text: `${arrow}${pct} on the 7 days before` };
}

export const formatNumber = (n) => (typeof n === 'number' ? n.toLocaleString('en-GB') : String(n ?? ''));

// ---- audit entries as sentences ----

const THINGS = {
  contacts: 'contact',
  contact_lists: 'list',
  contact_list_assignments: 'a list assignment',
  custom_fields: 'a custom value',
  custom_field_definitions: 'custom field',
  communication_logs: 'a timeline entry',
  templates: 'template',
  campaigns: 'campaign',
  campaign_approvals: 'an approval',
  suppressions: 'suppression',
  workspace_members: 'a membership',
  workspace_invitations: 'an invitation',
  workspaces: 'workspace',
  api_keys: 'API key',
  system_settings: 'a setting',
  import_jobs: 'import',
  ai_insight_runs: 'insights',
};

const VERBS = {
  create: 'added',
  update: 'changed',
  delete: 'deleted',
  submit: 'submitted',
  approve: 'approved',
  reject: 'rejected',
  schedule: 'scheduled',
  send: 'started sending',
  pause: 'paused',
  resume: 'resumed',
  cancel: 'cancelled',
  retry: 'retried',
  test: 'test-sent',
  merge: 'merged',
  merge_undo: 'undid the merge into',
  import: 'imported into',
  undo: 'undid',
  export: 'exported',
  template_generate: 'drafted with AI',
  template_rewrite: 'rewrote with AI',
  password_change: 'changed the password of',
  run: 'measured',
};

// nameOf: what a record is called, from the record (when it still exists)
// or the entry's own before/after copy (a deleted one).
export function nameOf(type, rec) {
  if (!rec) return '';
  if (type === 'contacts') {
    const n = [rec.first_name, rec.last_name].filter(Boolean).join(' ').trim();
    return n || rec.company || '(no name)';
  }
  return rec.name || rec.field_name || rec.label || rec.description || rec.email || '';
}

// auditSentence turns an entry into {who, verb, thing, name, href} for the
// dashboard: "Andy changed contact Ada Okafor". people: user id -> name;
// records: "type:id" -> the record when it could be read.
export function auditSentence(entry, people, records) {
  const who = entry.user ? people[entry.user] || 'A former member' : entry.api_key ? 'An API key' : 'The server';
  const action = String(entry.action || '');
  if (action === 'auth.login') return { who, verb: 'logged in', thing: '', name: '', href: '' };
  if (action === 'auth.login_failed') return { who: 'Someone', verb: 'failed to log in', thing: '', name: '', href: '' };
  const key = action.includes('.') ? action.split('.').pop() : action;
  const verb = VERBS[key] || action.replaceAll('_', ' ').replaceAll('.', ' ');
  const type = entry.entity_type;
  const thing = THINGS[type] ?? type.replaceAll('_', ' ');
  const rec = records[`${type}:${entry.entity_id}`] || entry.details?.after || entry.details?.before;
  const name = nameOf(type, rec);
  let href = '';
  if (type === 'contacts' && records[`${type}:${entry.entity_id}`]) href = `/contacts/${entry.entity_id}`;
  if (type === 'campaigns' && records[`${type}:${entry.entity_id}`]) href = `/campaigns/${entry.entity_id}`;
  if (type === 'templates' && records[`${type}:${entry.entity_id}`]) href = `/templates/${entry.entity_id}`;
  if (type === 'import_jobs') href = '/import';
  return { who, verb, thing, name, href };
}
