// Records the campaign tests (tests/campaigns.test.mjs, campaigns-ui.test.mjs)
// make for themselves in the demo workspace "Shared", under a unique tag: a
// list of five contacts — three with an address, one without, one whose
// address is suppressed — and an email template with a script in its HTML
// and an unsubscribe link. So the audience of "in the list" is exactly
// {count: 3, suppressed: 1, missing_address: 1}, whatever else the
// workspace holds.
import { PASSWORD, impersonate } from './ui-helpers.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn until it returns a truthy value (returned) or time runs out.
export async function waitFor(fn, what, timeoutMs = 20_000, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

// notLanded: the route does not exist on this server (a 404 without a pi-crm code).
export const notLanded = (err) => err?.status === 404 && !err?.response?.data?.code;

export async function fixtures(su, tag) {
  const andy = await impersonate(su, 'andy@example.com');
  const mona = await impersonate(su, 'monalisa@example.com');
  const ws = (await su.collection('workspaces').getFirstListItem('name = "Shared"')).id;
  const mkUser = async (role, name) => {
    const email = `${tag}.${role}@example.org`;
    const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name, verified: true });
    await su.collection('workspace_members').create({ workspace: ws, user: u.id, role });
    return impersonate(su, email);
  };
  const editor = await mkUser('editor', 'Eddie Editor');
  const viewer = await mkUser('viewer', 'Vera Viewer');

  const list = await andy.collection('contact_lists').create({ workspace: ws, name: `${tag} list` });
  const people = [
    { first_name: 'Ada', primary_email: `ada.${tag}@example.org` },
    { first_name: 'Bea', primary_email: `bea.${tag}@example.org` },
    { first_name: 'Cyd', primary_email: `cyd.${tag}@example.org` },
    { first_name: 'Dot' }, // no address
    { first_name: 'Eve', primary_email: `eve.${tag}@example.org` }, // suppressed
  ];
  const contacts = [];
  for (const p of people) {
    const c = await andy.collection('contacts').create({ workspace: ws, last_name: `${tag}-${p.first_name}`, ...p });
    await andy.collection('contact_list_assignments').create({ contact: c.id, list: list.id, is_primary: false });
    contacts.push(c);
  }
  await andy.collection('suppressions').create({ workspace: ws, channel: 'email', address: `eve.${tag}@example.org`, reason: 'manual' });

  const template = await andy.collection('templates').create({
    workspace: ws, name: `${tag} news`, channel: 'email', subject: `News for {{first_name}} ${tag}`,
    body_html: `<h1>Hello {{first_name | default "there"}}</h1>\n<p id="body">${tag} body</p>\n` +
      `<script>document.write('SCRIPT RAN')</script>\n<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>`,
  });
  return { andy, mona, editor, viewer, ws, list, contacts, template, segment: { lists_any: [list.id], lists_all: [], exclude_lists: [], conditions: [] } };
}

// unsubscribePath reads the path of the List-Unsubscribe URL of an outbox
// message's headers (the URL is under meta.appURL, which need not be the
// test server's address).
export function unsubscribeURL(headers) {
  const h = headers || {};
  const key = Object.keys(h).find((k) => k.toLowerCase() === 'list-unsubscribe');
  if (!key) return '';
  const v = [].concat(h[key]).join(',');
  const m = /<(https?:[^>]+)>/.exec(v);
  return m ? m[1] : '';
}
