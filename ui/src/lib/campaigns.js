// Campaigns, approvals, the ledger, the outbox and the sending providers
// (issue 14: hooks/campaigns.go, hooks/sending.go, hooks/providers.go).
// Records through the collection API, every move through its route.
import { pb, f } from './pb.js';
import { errorCode, errorMessage } from './errors.js';

const enc = encodeURIComponent;

export const STATUSES = ['draft', 'pending_approval', 'approved', 'rejected', 'scheduled', 'sending', 'paused', 'sent', 'failed', 'cancelled'];
export const STATUS_LABELS = {
  draft: 'Draft', pending_approval: 'Waiting for approval', approved: 'Approved', rejected: 'Rejected',
  scheduled: 'Scheduled', sending: 'Sending', paused: 'Paused', sent: 'Sent', failed: 'Failed', cancelled: 'Cancelled',
};
// what the collection API still edits; an edit of any but a draft returns it to draft (the server's hook)
export const EDITABLE = ['draft', 'pending_approval', 'approved', 'rejected', 'scheduled'];
// the moves the server's transition table allows from each status (the
// buttons shown; the server decides, and a refusal is shown as it says)
export const ACTIONS = {
  draft: ['submit'],
  pending_approval: [],
  approved: ['schedule', 'send', 'cancel'],
  rejected: [],
  scheduled: ['cancel'],
  sending: ['pause'],
  paused: ['resume', 'cancel'],
};
export const ACTION_LABELS = {
  submit: 'Submit for approval', approve: 'Approve', reject: 'Reject', schedule: 'Schedule', send: 'Send now',
  pause: 'Pause', resume: 'Resume', cancel: 'Cancel campaign',
};

export const DELIVERY_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'complained', 'suppressed', 'skipped', 'unknown'];
export const COUNTERS = ['queued', 'sending', 'sent', 'failed', 'skipped', 'unknown'];
export const OPS = [
  { op: 'eq', label: 'is' }, { op: 'contains', label: 'contains' }, { op: 'gt', label: '>' }, { op: 'gte', label: '≥' },
  { op: 'lt', label: '<' }, { op: 'lte', label: '≤' }, { op: 'empty', label: 'is empty' }, { op: 'notempty', label: 'is not empty' },
];
export const NO_VALUE_OPS = ['empty', 'notempty'];
// channel: the campaigns a provider sends (none: every campaign)
export const PROVIDERS = [
  { name: '', label: "The workspace's default (outbox unless set)" },
  { name: 'outbox', label: 'Outbox (kept here, nothing leaves)' },
  { name: 'smtp', label: 'SMTP', channel: 'email' },
  { name: 'mailgun', label: 'Mailgun', channel: 'email' },
  { name: 'gmail', label: 'Google Workspace (Gmail)', channel: 'email' },
  { name: 'microsoft365', label: 'Microsoft 365', channel: 'email' },
  { name: 'twilio', label: 'Twilio (SMS)', channel: 'sms' },
];

export function emptySegment() {
  return { lists_any: [], lists_all: [], exclude_lists: [], conditions: [] };
}

// normalSegment reads a stored segment (maybe null or partial) into the full shape.
export function normalSegment(s) {
  const seg = s && typeof s === 'object' ? s : {};
  const ids = (v) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string' && x) : []);
  return {
    lists_any: ids(seg.lists_any),
    lists_all: ids(seg.lists_all),
    exclude_lists: ids(seg.exclude_lists),
    conditions: Array.isArray(seg.conditions)
      ? seg.conditions.map((c) => ({ field: String(c?.field || ''), op: String(c?.op || 'eq'), value: c?.value == null ? '' : String(c.value) }))
      : [],
  };
}

// segmentForSave drops condition rows without a field (a row being written).
export function segmentForSave(seg) {
  const s = normalSegment(seg);
  s.conditions = s.conditions
    .filter((c) => c.field)
    .map((c) => (NO_VALUE_OPS.includes(c.op) ? { field: c.field, op: c.op } : { field: c.field, op: c.op, value: c.value }));
  return s;
}

// describeSegment says a segment in words, naming lists by their names.
export function describeSegment(seg, listNames = {}, fieldLabels = {}) {
  const s = normalSegment(seg);
  const names = (ids) => ids.map((id) => `“${listNames[id] || id}”`).join(', ');
  const parts = [];
  if (s.lists_any.length) parts.push(`in any of ${names(s.lists_any)}`);
  if (s.lists_all.length) parts.push(`in all of ${names(s.lists_all)}`);
  if (s.exclude_lists.length) parts.push(`not in ${names(s.exclude_lists)}`);
  for (const c of s.conditions) {
    const op = OPS.find((o) => o.op === c.op)?.label || c.op;
    const label = fieldLabels[c.field] || c.field;
    parts.push(NO_VALUE_OPS.includes(c.op) ? `${label} ${op}` : `${label} ${op} “${c.value}”`);
  }
  return parts.length ? 'Contacts ' + parts.join('; ') : 'Every contact of the workspace';
}

// total: every ledger row (the engine writes counters.total once the ledger is written)
export const total = (counters) =>
  Number(counters?.total) || COUNTERS.reduce((n, k) => n + (Number(counters?.[k]) || 0), 0);

// ---- records ----

export function campaignsOf(ws, { status = '', page = 1, perPage = 25 } = {}) {
  const filter = status ? f('workspace = {:ws} && status = {:st}', { ws, st: status }) : f('workspace = {:ws}', { ws });
  return pb.collection('campaigns').getList(page, perPage, { filter, sort: '-updated' });
}
export const getCampaign = (id) => pb.collection('campaigns').getOne(id);
export const createCampaign = (data) => pb.collection('campaigns').create(data);
export const updateCampaign = (id, data) => pb.collection('campaigns').update(id, data);
export const deleteCampaign = (id) => pb.collection('campaigns').delete(id);

// ---- routes ----

const post = (path, body = {}) => pb.send(path, { method: 'POST', body });
export const campaignAction = (id, action, body = {}) => post(`/api/crm/campaigns/${enc(id)}/${action}`, body);
export const audienceOf = (id, sample = 20) => pb.send(`/api/crm/campaigns/${enc(id)}/audience?sample=${sample}`, { method: 'GET' });
export const testSend = (id, addresses, contact = '') =>
  post(`/api/crm/campaigns/${enc(id)}/test`, { addresses, ...(contact ? { contact } : {}) });
export const retry = (id, statuses) => post(`/api/crm/campaigns/${enc(id)}/retry`, { statuses });

export const providerSettings = (ws, name) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers/${enc(name)}`, { method: 'GET' });
export const saveProviderSettings = (ws, name, body) =>
  pb.send(`/api/crm/workspaces/${enc(ws)}/providers/${enc(name)}`, { method: 'PUT', body });
export const providersList = (ws) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers`, { method: 'GET' });
export const setDefaultProvider = (ws, name) => pb.send(`/api/crm/workspaces/${enc(ws)}/providers/default`, { method: 'PUT', body: { name } });
export const testProvider = (ws, name, to) => post(`/api/crm/workspaces/${enc(ws)}/providers/${enc(name)}/test`, { to });

// ---- approvals, ledger, outbox ----

export const pendingApprovals = (ws) =>
  pb.collection('campaigns').getFullList({ filter: f('workspace = {:ws} && status = {:st}', { ws, st: 'pending_approval' }), sort: 'submitted_at', expand: 'submitted_by' });
export const approvalHistory = (ws, page = 1) =>
  pb.collection('campaign_approvals').getList(page, 20, {
    filter: f('campaign.workspace = {:ws}', { ws }), sort: '-created', expand: 'campaign,requested_by,reviewer',
  });
export const approvalsOfCampaign = (id) =>
  pb.collection('campaign_approvals').getFullList({ filter: f('campaign = {:c}', { c: id }), sort: '-created', expand: 'requested_by,reviewer' });

// selfApproval: the workspace allows a submitter to approve its own campaign
// (system_settings campaigns.self_approval; admins and owners read it).
export async function selfApproval(ws) {
  try {
    const s = await pb.collection('system_settings').getFirstListItem(
      f('scope = "workspace" && scope_id = {:ws} && setting_key = "campaigns.self_approval"', { ws }),
    );
    return s.setting_value === true || s.setting_value === 'true';
  } catch {
    return false;
  }
}

export function deliveriesOf(campaign, { status = '', page = 1, perPage = 25 } = {}) {
  const filter = status ? f('campaign = {:c} && status = {:st}', { c: campaign, st: status }) : f('campaign = {:c}', { c: campaign });
  return pb.collection('campaign_deliveries').getList(page, perPage, { filter, sort: '-sent_at,address', expand: 'contact' });
}

// sentTimes: the sent_at of a campaign's deliveries (at most max of them).
export async function sentTimes(campaign, max = 20000) {
  const out = [];
  for (let page = 1; out.length < max; page++) {
    const res = await pb.collection('campaign_deliveries').getList(page, 1000, {
      filter: f('campaign = {:c} && sent_at != ""', { c: campaign }), fields: 'sent_at', sort: 'sent_at', skipTotal: true,
    });
    out.push(...res.items.map((d) => d.sent_at));
    if (res.items.length < 1000) break;
  }
  return out;
}

// perMinute buckets times into minutes: [{t: ms, n}], no gaps.
export function perMinute(times) {
  const ms = times.map((s) => Date.parse(String(s).replace(' ', 'T'))).filter((n) => !isNaN(n));
  if (!ms.length) return [];
  const start = Math.floor(Math.min(...ms) / 60000);
  const end = Math.floor(Math.max(...ms) / 60000);
  const buckets = Array.from({ length: Math.min(end - start + 1, 24 * 60) }, (_, i) => ({ t: (start + i) * 60000, n: 0 }));
  for (const t of ms) {
    const i = Math.floor(t / 60000) - start;
    if (i < buckets.length) buckets[i].n++;
  }
  return buckets;
}

export function outboxOf(ws, { campaign = '', page = 1, perPage = 25 } = {}) {
  const filter = campaign ? f('workspace = {:ws} && campaign = {:c}', { ws, c: campaign }) : f('workspace = {:ws}', { ws });
  return pb.collection('outbox_messages').getList(page, perPage, { filter, sort: '-created', fields: 'id,to,subject,campaign,contact,test,created' });
}
export const outboxMessage = (id) => pb.collection('outbox_messages').getOne(id);

// ---- time zones ----

export const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export function zones() {
  let all = [];
  try {
    all = Intl.supportedValuesOf('timeZone');
  } catch {}
  const mine = browserZone();
  if (!all.includes('UTC')) all = ['UTC', ...all];
  if (!all.includes(mine)) all = [mine, ...all];
  return all;
}

// zoneOffset: the zone's offset from UTC in ms at instant t.
function zoneOffset(t, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(t))
      .map((p) => [p.type, p.value]),
  );
  const asUTC = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
  return asUTC - Math.floor(t / 1000) * 1000;
}

// zonedToISO reads a datetime-local value ("2026-03-01T09:30") as a wall
// clock time in zone and returns the instant in RFC 3339 (UTC).
export function zonedToISO(local, zone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || '');
  if (!m) return '';
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let t = wall - zoneOffset(wall, zone);
  t = wall - zoneOffset(t, zone); // across a DST change
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

// formatIn shows a stored date in a zone (default: the viewer's).
export function formatIn(s, zone) {
  if (!s) return '';
  const d = new Date(String(s).replace(' ', 'T'));
  if (isNaN(d)) return String(s);
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', timeZone: zone || undefined, timeZoneName: 'short' }).format(d);
  } catch {
    return d.toLocaleString();
  }
}

// ---- errors ----

// actionError says a refused move plainly: a 409 names the status and what
// is allowed, 403s who may approve.
export function actionError(err) {
  const code = errorCode(err);
  const d = err?.response?.data || {};
  if (code === 'campaign_invalid_transition') {
    const st = STATUS_LABELS[d.status] || d.status || 'its current status';
    const allowed = Array.isArray(d.allowed) && d.allowed.length ? d.allowed.map((a) => ACTION_LABELS[a] || a).join(', ') : 'none';
    return `Not possible now: the campaign is ${st.toLowerCase()}. Allowed now: ${allowed}.`;
  }
  if (code === 'approval_self') return 'You submitted this campaign, so another admin or owner has to approve it (four-eyes rule).';
  if (code === 'approval_role') return 'Only admins and owners of this workspace approve or reject campaigns.';
  if (code === 'approval_stale') return 'This campaign was changed and submitted again since this page loaded: reload to review what it sends now.';
  return errorMessage(err);
}
