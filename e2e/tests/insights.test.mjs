// The insights (services/insights) against the real seeded server run.mjs
// starts: the routes through the JS SDK, and the dashboard panel in Debian's
// Chromium through playwright-core — the cards of the demo workspace, the
// refresh with its progress, the summary through the local OpenAI-compatible
// fake (../ai-fake.mjs), the audit entries as sentences.
//
// The records the tests need are made here: a viewer of Shared, an outsider,
// and a user of its own with a fresh workspace whose AI provider is the fake
// (so no other test file's AI settings matter).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { URL, PASSWORD, superuser, impersonate, launch, openAt } from '../ui-helpers.mjs';
import { startAIFake, INSIGHTS_ANSWER } from '../ai-fake.mjs';

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const shot = (p, name) => p.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });

const tag = `in${Date.now().toString(36)}`;
let su, andy, viewer, outsider, owner, browser, fake;
const ws = {};
const problems = [];

const insightsOf = (pb, w) => pb.send(`/api/crm/workspaces/${w}/insights`, { method: 'GET' });
const runOf = (pb, w) => pb.send(`/api/crm/workspaces/${w}/insights/run`, { method: 'POST' });
const types = (res) => Object.fromEntries(res.insights.map((i) => [i.type, i]));

before(async () => {
  su = await superuser();
  andy = await impersonate(su, 'andy@example.com');
  ws.Shared = (await su.collection('workspaces').getFirstListItem('name = "Shared"')).id;
  const mk = async (email, name) => {
    const u = await su.collection('users').create({ email, password: PASSWORD, passwordConfirm: PASSWORD, name, verified: true });
    return { u, pb: await impersonate(su, email) };
  };
  const v = await mk(`${tag}.viewer@example.org`, 'Vera Viewer');
  await su.collection('workspace_members').create({ workspace: ws.Shared, user: v.u.id, role: 'viewer' });
  viewer = v.pb;
  const x = await mk(`${tag}.outsider@example.org`, 'Otto Outsider');
  outsider = x.pb;
  ws.outsider = (await outsider.collection('workspaces').create({ name: `${tag} outside`, owner: x.u.id })).id;
  const o = await mk(`${tag}.owner@example.org`, 'Olga Owner');
  owner = o.pb;
  ws.ai = (await owner.collection('workspaces').create({ name: `${tag} with AI`, owner: o.u.id })).id;
  await owner.collection('contacts').create({ workspace: ws.ai, first_name: 'Petra', last_name: `${tag}Private`, primary_email: `petra.${tag}@example.org`, primary_phone: '+442079460777' });
  await owner.collection('contacts').create({ workspace: ws.ai, first_name: 'Quentin', last_name: `${tag}Hidden`, primary_email: `quentin.${tag}@example.org` });

  browser = await launch();
  fake = await startAIFake();
  await owner.send(`/api/crm/workspaces/${ws.ai}/providers/ai`, { method: 'PUT', body: { base_url: fake.url, model: 'fake-model', timeout_s: 10 } });
});

after(async () => {
  await browser?.close();
  await fake?.close();
  assert.deepEqual(problems, [], 'page errors or dialogs during the insights tests');
});

test('the demo workspace was measured at seed time; the latest set by role, never to another workspace', async () => {
  const seeded = await andy.collection('ai_insight_runs').getFullList({ filter: andy.filter('workspace = {:w} && trigger = "seed"', { w: ws.Shared }) });
  assert.equal(seeded.length, 1, 'the seed measured Shared once');
  assert.equal(seeded[0].status, 'done');
  // other test files added contacts since: measure now
  const mine = await runOf(andy, ws.Shared);
  assert.equal(mine.run.status, 'done');
  assert.equal(mine.run.trigger, 'manual');
  assert.equal(mine.can_run, true);
  const t = types(mine);
  for (const k of ['contacts_added', 'list_sizes', 'duplicates', 'campaign_results', 'ai_usage']) assert.ok(t[k], `Andy reads ${k}`);
  // the contacts added equal the contacts of Shared (the demo's are all within 30 days)
  const total = (await andy.collection('contacts').getList(1, 1, { filter: andy.filter('workspace = {:w}', { w: ws.Shared }) })).totalItems;
  assert.equal(t.contacts_added.data.total, total);

  const seen = await insightsOf(viewer, ws.Shared);
  assert.equal(seen.can_run, false);
  assert.ok(!types(seen).ai_usage, 'a viewer reads no AI usage');
  assert.ok(types(seen).campaign_results, 'a viewer reads campaign results');
  await assert.rejects(runOf(viewer, ws.Shared), (e) => e.status === 403 && e.response?.data?.code === 'insights_run_forbidden');

  await assert.rejects(insightsOf(outsider, ws.Shared), (e) => e.status === 404);
  await assert.rejects(runOf(outsider, ws.Shared), (e) => e.status === 404);
  const leaked = await outsider.collection('ai_insights').getFullList({ filter: outsider.filter('workspace = {:w}', { w: ws.Shared }) });
  assert.equal(leaked.length, 0, 'the outsider lists none of Shared');
  const runs = await outsider.collection('ai_insight_runs').getFullList();
  assert.ok(runs.every((r) => r.workspace !== ws.Shared));
});

test('the dashboard shows the insights with charts; Refresh measures again with progress; the summary needs a model', async () => {
  const { ctx, p } = await openAt(browser, problems, andy, '/', { workspace: ws.Shared });
  try {
    await runOf(andy, ws.Shared); // the page and the figures below from one run
    await p.reload();
    const api = types(await insightsOf(andy, ws.Shared));
    const card = p.getByTestId('insight-contacts_added');
    await card.waitFor();
    assert.equal(await card.getByTestId('insight-value').textContent(), String(api.contacts_added.value));
    assert.match(await card.getByTestId('insight-trend').textContent(), /on the 7 days before/);
    assert.ok(await p.getByTestId('contacts-chart').isVisible(), 'contacts over 30 days drawn');
    assert.ok(await p.getByTestId('campaign-bars').isVisible(), 'campaign results as bars');
    assert.match(await p.getByTestId('contacts-chart').getAttribute('aria-label'), /Contacts over the last 30 days/);
    assert.match(await p.getByTestId('summary-needs-model').textContent(), /needs an AI model/);
    const before = await p.getByTestId('insights-when').textContent();

    // a new contact, then Refresh: the progress shows, then the card counts it
    await andy.collection('contacts').create({ workspace: ws.Shared, first_name: 'Rhea', last_name: `${tag}New` });
    await new Promise((r) => setTimeout(r, 1100)); // a new "measured" second
    // the progress may last only milliseconds on 50 contacts: an observer
    // set before the click records that it was drawn at all
    await p.evaluate(() => {
      window.__sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector('[data-testid=insights-progress]')) window.__sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await p.getByTestId('insights-refresh').click();
    await p.waitForFunction(() => window.__sawProgress === true, null, { timeout: 10_000 });
    await p.getByTestId('insights-progress').waitFor({ state: 'detached', timeout: 20_000 });
    await p.waitForFunction((b) => document.querySelector('[data-testid=insights-when]')?.textContent !== b, before);
    assert.equal(await card.getByTestId('insight-value').textContent(), String(api.contacts_added.value + 1));
    await shot(p, 'insights-dashboard');

    // the audit entries read as sentences, the new contact linked
    await p.reload();
    const sentence = p.getByTestId('audit-sentence').filter({ hasText: `Rhea ${tag}New` }).first();
    await sentence.waitFor();
    assert.match(await sentence.textContent(), /^Andy added contact Rhea/);
    const href = await sentence.locator('a').getAttribute('href');
    assert.match(href, /^\/contacts\/[a-z0-9]{15}$/);
    const all = await p.getByTestId('audit-sentence').allTextContents();
    assert.ok(all.every((s) => !/\b[a-z0-9]{15}\b/.test(s)), `no record ids in the sentences: ${all.join(' | ')}`);
  } finally {
    await ctx.close();
  }
});

test('a viewer sees the insights without Refresh', async () => {
  const { ctx, p } = await openAt(browser, problems, viewer, '/', { workspace: ws.Shared });
  try {
    await p.getByTestId('insight-contacts_added').waitFor();
    assert.equal(await p.getByTestId('insights-refresh').count(), 0);
    assert.equal(await p.getByTestId('insight-ai_usage').count(), 0);
  } finally {
    await ctx.close();
  }
});

test('with a model: Refresh writes the summary from aggregates only, with model and tokens', async () => {
  const { ctx, p } = await openAt(browser, problems, owner, '/', { workspace: ws.ai });
  try {
    await p.getByTestId('insights-empty').waitFor();
    fake.requests.length = 0;
    await p.evaluate(() => {
      window.__sawProgress = false;
      new MutationObserver(() => {
        if (document.querySelector('[data-testid=insights-progress]')) window.__sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await p.getByTestId('insights-refresh').click();
    await p.waitForFunction(() => window.__sawProgress === true, null, { timeout: 10_000 });
    const meta = p.getByTestId('summary-meta');
    await meta.waitFor({ timeout: 20_000 });
    assert.match(await meta.textContent(), /Written by fake-model from these metrics only · [\d,]+ tokens · confidence 70%/);
    const text = await p.getByTestId('insights-summary').textContent();
    for (const f of INSIGHTS_ANSWER.findings) assert.ok(text.includes(f.finding) && text.includes(f.action), `finding shown: ${f.finding}`);
    await shot(p, 'insights-summary');

    assert.equal(fake.requests.length, 1, 'one model call');
    const prompt = JSON.stringify(fake.requests[0].messages);
    assert.match(prompt, /contacts_added/);
    assert.doesNotMatch(prompt, /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]/, 'no email address in the prompt');
    assert.doesNotMatch(prompt, /\+\d{7,15}/, 'no phone number in the prompt');
    for (const leak of [`${tag}Private`, `${tag}Hidden`, 'Petra', 'Quentin', '2079460777']) assert.ok(!prompt.includes(leak), `prompt holds ${leak}`);
  } finally {
    await ctx.close();
  }
});
