// A small API layer over the SDK: views call these instead of building
// filters and paths themselves. Every filter value goes through pb.filter.
import { pb, f } from './pb.js';

export const BASE_FIELDS = [
  { name: 'first_name', label: 'First name', type: 'text' },
  { name: 'last_name', label: 'Last name', type: 'text' },
  { name: 'primary_email', label: 'Email', type: 'email' },
  { name: 'primary_phone', label: 'Phone', type: 'tel' },
  { name: 'company', label: 'Company', type: 'text' },
];

export const ROLES = ['owner', 'admin', 'editor', 'viewer'];

export function displayName(c) {
  if (!c) return '';
  const name = [c.first_name, c.last_name].filter(Boolean).join(' ').trim();
  return name || c.primary_email || c.primary_phone || c.company || '(no name)';
}

export function formatDate(s) {
  if (!s) return '';
  const d = new Date(String(s).replace(' ', 'T'));
  return isNaN(d) ? String(s) : d.toLocaleString();
}

// ---- contacts ----

// contactQuery is a view's contact query as the search route's parameters
// (term, match, list and custom-field filters, sort). The export route takes
// the same ones, so an export writes exactly the contacts the view pages.
export function contactQuery({ q = '', match = '', list = '', filters = [], sort = '' } = {}) {
  const params = new URLSearchParams();
  if (q.trim()) params.set('q', q.trim());
  if (match) params.set('match', match);
  if (list) params.set('list', list);
  if (sort) params.set('sort', sort);
  for (const flt of filters) params.append('filter', `${flt.field}:${flt.op}:${flt.value ?? ''}`);
  return params;
}

// searchContacts uses the indexed search route (services/search): a page of
// contactQuery's contacts.
export function searchContacts(ws, { page = 1, perPage = 25, ...query } = {}) {
  const params = contactQuery(query);
  params.set('workspace', ws);
  params.set('page', String(page));
  params.set('perPage', String(perPage));
  return pb.send('/api/crm/contacts/search?' + params.toString(), { method: 'GET' });
}

export const getContact = (id) => pb.collection('contacts').getOne(id);
export const createContact = (data) => pb.collection('contacts').create(data);
export const updateContact = (id, data) => pb.collection('contacts').update(id, data);
export const deleteContact = (id) => pb.collection('contacts').delete(id);
export const contactCustom = (id) => pb.send(`/api/crm/contacts/${encodeURIComponent(id)}/custom`, { method: 'GET' });

export async function countContacts(ws) {
  const res = await pb.collection('contacts').getList(1, 1, { filter: f('workspace = {:ws}', { ws }), skipTotal: false, fields: 'id' });
  return res.totalItems;
}

// deleteContacts deletes in batches of 100 (the server's batch limit); each
// batch is one transaction.
export async function deleteContacts(ids) {
  for (let i = 0; i < ids.length; i += 100) {
    const batch = pb.createBatch();
    for (const id of ids.slice(i, i + 100)) batch.collection('contacts').delete(id);
    await batch.send();
  }
}

// ---- custom field definitions ----

// definitionsFor returns the definitions that apply in workspace ws: the
// workspace's own, plus its owner's user-wide ones that no workspace
// definition of the same name overrides.
export async function definitionsFor(ws) {
  const owner = (await pb.collection('workspaces').getOne(ws, { fields: 'id,owner' })).owner;
  const all = await pb.collection('custom_field_definitions').getFullList({
    filter: f('workspace = {:ws} || (workspace = "" && user = {:owner})', { ws, owner }),
    sort: 'field_name',
  });
  const byName = new Map();
  for (const d of all) {
    if (!d.workspace && byName.has(d.field_name)) continue;
    byName.set(d.field_name, { ...d, options: Array.isArray(d.options) ? d.options : [], scope: d.workspace ? 'workspace' : 'user' });
  }
  return [...byName.values()].sort((a, b) => a.label.localeCompare(b.label));
}

export const createDefinition = (data, force = false) =>
  pb.collection('custom_field_definitions').create(data, force ? { query: { force: 'true' } } : {});
export const updateDefinition = (id, data, force = false) =>
  pb.collection('custom_field_definitions').update(id, data, force ? { query: { force: 'true' } } : {});
export const deleteDefinition = (id) => pb.collection('custom_field_definitions').delete(id);

// ---- lists ----

export const listsOf = (ws) => pb.collection('contact_lists').getFullList({ filter: f('workspace = {:ws}', { ws }), sort: 'name' });
export const createList = (data) => pb.collection('contact_lists').create(data);
export const updateList = (id, data) => pb.collection('contact_lists').update(id, data);
export const deleteList = (id) => pb.collection('contact_lists').delete(id);

export async function listSize(list) {
  const res = await pb.collection('contact_list_assignments').getList(1, 1, { filter: f('list = {:l}', { l: list }), fields: 'id' });
  return res.totalItems;
}

export const assignmentsOf = (contact) =>
  pb.collection('contact_list_assignments').getFullList({ filter: f('contact = {:c}', { c: contact }), expand: 'list', sort: '-is_primary,assigned_at' });
export const assign = (contact, list, isPrimary = false) =>
  pb.collection('contact_list_assignments').create({ contact, list, is_primary: isPrimary });
export const makePrimary = (assignment) => pb.collection('contact_list_assignments').update(assignment, { is_primary: true });
export const unassign = (assignment) => pb.collection('contact_list_assignments').delete(assignment);

// addToList adds contacts to a list, skipping those already in it (a batch
// is all or nothing, so one existing assignment would fail all of it).
export async function addToList(list, contactIds) {
  let added = 0;
  for (let i = 0; i < contactIds.length; i += 100) {
    const chunk = contactIds.slice(i, i + 100);
    const filter = chunk.map((_, j) => `contact = {:c${j}}`).join(' || ');
    const params = Object.fromEntries(chunk.map((c, j) => ['c' + j, c]));
    const existing = await pb.collection('contact_list_assignments').getFullList({
      filter: f(`list = {:list} && (${filter})`, { list, ...params }),
      fields: 'contact',
    });
    const have = new Set(existing.map((a) => a.contact));
    const todo = chunk.filter((c) => !have.has(c));
    if (!todo.length) continue;
    const batch = pb.createBatch();
    for (const c of todo) batch.collection('contact_list_assignments').create({ contact: c, list, is_primary: false });
    await batch.send();
    added += todo.length;
  }
  return added;
}

// ---- timeline ----

export const timelineOf = (contact, page = 1) =>
  pb.collection('communication_logs').getList(page, 50, { filter: f('contact = {:c}', { c: contact }), sort: '-timestamp,-created' });

export const recentActivity = (ws) =>
  pb.collection('communication_logs').getList(1, 10, { filter: f('workspace = {:ws}', { ws }), sort: '-created', expand: 'contact' });

export const addEntry = (data) =>
  pb.collection('communication_logs').create({ timestamp: new Date().toISOString().replace('T', ' '), ...data });

// ---- members ----

export const membersOf = (ws) =>
  pb.collection('workspace_members').getFullList({ filter: f('workspace = {:ws}', { ws }), expand: 'user', sort: 'created' });
export const setRole = (id, role) => pb.collection('workspace_members').update(id, { role });
export const removeMember = (id) => pb.collection('workspace_members').delete(id);

// ---- invitations ----
// Membership comes by invitation: an admin invites an email address, and the
// account with it joins when it accepts. The server answers an invite the
// same way whether or not the address has an account.
export const inviteMember = (workspace, email, role) =>
  pb.send(`/api/crm/workspaces/${encodeURIComponent(workspace)}/invitations`, { method: 'POST', body: { email, role } });
export const invitationsOf = (ws) =>
  pb.collection('workspace_invitations').getFullList({ filter: f('workspace = {:ws} && status = {:s}', { ws, s: 'pending' }), sort: '-created' });
export const revokeInvitation = (id) => pb.send(`/api/crm/invitations/${encodeURIComponent(id)}/revoke`, { method: 'POST' });
// the logged-in user's own pending invitations, with the workspace's and the inviter's names
export const myInvitations = async () => (await pb.send('/api/crm/invitations', { method: 'GET' })).items || [];
export const acceptInvitation = (id) => pb.send(`/api/crm/invitations/${encodeURIComponent(id)}/accept`, { method: 'POST' });
export const declineInvitation = (id) => pb.send(`/api/crm/invitations/${encodeURIComponent(id)}/decline`, { method: 'POST' });

// ---- API keys ----

export const myKeys = () => pb.collection('api_keys').getFullList({ sort: '-created' });
export const createKey = (data) => pb.send('/api/crm/api-keys', { method: 'POST', body: data });
export const revokeKey = (id) => pb.collection('api_keys').update(id, { is_active: false });
export const deleteKey = (id) => pb.collection('api_keys').delete(id);

// ---- audit log ----

export function auditEntries(ws, { entityType = '', action = '', user = '', entityId = '', from = '', to = '' } = {}, page = 1) {
  const parts = ['workspace = {:ws}'];
  const params = { ws };
  if (entityType) (parts.push('entity_type = {:et}'), (params.et = entityType));
  if (action) (parts.push('action = {:ac}'), (params.ac = action));
  if (user) (parts.push('user = {:us}'), (params.us = user));
  if (entityId) (parts.push('entity_id = {:ei}'), (params.ei = entityId));
  if (from) (parts.push('timestamp >= {:from}'), (params.from = from + ' 00:00:00'));
  if (to) (parts.push('timestamp <= {:to}'), (params.to = to + ' 23:59:59'));
  return pb.collection('audit_logs').getList(page, 25, { filter: f(parts.join(' && '), params), sort: '-timestamp' });
}

// ---- merge (services/merge: POST /api/crm/contacts/merge) ----

export const merge = (body) => pb.send('/api/crm/contacts/merge', { method: 'POST', body });
export const undoMerge = (id) => pb.send(`/api/crm/contacts/merge/${encodeURIComponent(id)}/undo`, { method: 'POST' });

// ---- import / export (CSV issue) ----

export const startImport = (ws, form) =>
  pb.send(`/api/crm/workspaces/${encodeURIComponent(ws)}/import`, { method: 'POST', body: form });
export const importJobs = (ws) =>
  pb.collection('import_jobs').getList(1, 10, { filter: f('workspace = {:ws}', { ws }), sort: '-created' });
export const importJob = (id) => pb.collection('import_jobs').getOne(id);
export const undoImport = (id) => pb.send(`/api/crm/import-jobs/${encodeURIComponent(id)}/undo`, { method: 'POST' });

// download fetches a file with the session's token (a plain link would
// carry none) and hands it to the browser.
export async function download(path, fallbackName) {
  const res = await fetch(path, { headers: { Authorization: pb.authStore.token } });
  if (!res.ok) {
    let body = {};
    try {
      body = await res.json();
    } catch {}
    const err = new Error(body.message || `Download failed (${res.status})`);
    err.status = res.status;
    err.response = body;
    throw err;
  }
  const blob = await res.blob();
  const cd = res.headers.get('Content-Disposition') || '';
  saveBlob(blob, /filename="?([^";]+)"?/.exec(cd)?.[1] || fallbackName);
}

// downloadExport downloads every contact of contactQuery(query) as CSV, in
// its sort order (no sort: creation order).
export function downloadExport(ws, query = {}) {
  const qs = contactQuery(query).toString();
  return download(`/api/crm/workspaces/${encodeURIComponent(ws)}/export${qs ? '?' + qs : ''}`, 'contacts.csv');
}

export const downloadImportErrors = (job) =>
  download(`/api/crm/import-jobs/${encodeURIComponent(job)}/errors.csv`, `import-${job}-errors.csv`);

export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// csvCell quotes a value for a CSV file and neutralises spreadsheet formulas.
export function csvCell(v) {
  let s = v == null ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// ---- templates (services/templates, hooks/templates.go) and AI (hooks/ai.go) ----

const enc = encodeURIComponent;

export function templatesOf(ws, { channel = '' } = {}) {
  const filter = channel ? f('workspace = {:ws} && channel = {:ch}', { ws, ch: channel }) : f('workspace = {:ws}', { ws });
  return pb.collection('templates').getFullList({ filter, sort: 'name', fields: 'id,name,channel,status,version,previous,updated' });
}
export const getTemplate = (id) => pb.collection('templates').getOne(id);
export const createTemplate = (data) => pb.collection('templates').create(data);
export const updateTemplate = (id, data) => pb.collection('templates').update(id, data);

// previewTemplate renders an unsaved template ({channel, subject, preheader,
// body_html, body_text, signature}) for a contact of workspace ws (or none).
export const previewTemplate = (ws, template, contact = '', opts = {}) =>
  pb.send('/api/crm/templates/preview', { method: 'POST', body: { workspace: ws, template, ...(contact ? { contact } : {}) }, ...opts });
export const placeholdersOf = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/placeholders`, { method: 'GET' });

export const generateTemplate = (brief) => pb.send('/api/crm/templates/generate', { method: 'POST', body: brief });
export const rewriteTemplate = (id, instruction) =>
  pb.send(`/api/crm/templates/${enc(id)}/rewrite`, { method: 'POST', body: { instruction } });

export const aiSettings = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers/ai`, { method: 'GET' });
export const saveAiSettings = (ws, body) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers/ai`, { method: 'PUT', body });
export const testAi = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers/ai/test`, { method: 'POST' });

// ---- insights (services/insights) ----

export const workspaceInsights = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/insights`, { method: 'GET' });
export const runInsights = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/insights/run`, { method: 'POST' });
// watchInsightRuns calls fn with every change of the workspace's runs (the
// phase of a run under way); resolves to the unsubscribe function
export const watchInsightRuns = (ws, fn) =>
  pb.collection('ai_insight_runs').subscribe('*', (e) => fn(e.record), { filter: f('workspace = {:ws}', { ws }) });

// records by id for the audit sentences: what the caller may still read
export async function recordsByIds(collection, ids, fields) {
  const out = {};
  const unique = [...new Set(ids.filter(Boolean))];
  if (!unique.length) return out;
  const filter = unique.map((_, i) => `id = {:i${i}}`).join(' || ');
  const params = Object.fromEntries(unique.map((id, i) => [`i${i}`, id]));
  const items = await pb.collection(collection).getFullList({ filter: f(filter, params), fields });
  for (const r of items) out[r.id] = r;
  return out;
}
