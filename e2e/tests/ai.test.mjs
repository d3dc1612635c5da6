// AI drafts through the real binary and the JS SDK: the demo workspace's AI
// provider pointed at a local OpenAI-compatible fake (../ai-fake.mjs), then at
// Prism serving OpenAI's own spec in front of the fake (proxy: the spec checks
// the real go-openai request on its way) and as a mock.
//
// Andy owns "Andy's workspace" in the demo data.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import PocketBase from 'pocketbase';
import { startAIFake } from '../ai-fake.mjs';
import { expectError } from '../expect.mjs';
import { configured } from '../secrets.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const URL = process.env.PICRM_URL;
const PASSWORD = process.env.PICRM_PASSWORD || 'pi-crm-demo';
// the provider's own document, copied into the repository (e2e/specs/README.md)
const SPEC = resolve(process.env.PICRM_SPECS || join(here, '..', 'specs'), 'openai_chat_completions.trimmed.yaml');
const PRISM = join(here, '..', 'node_modules', '.bin', 'prism');
const API_KEY = 'sk-e2e-never-shown-7d1f0c';
configured(API_KEY);

assert.ok(URL, 'PICRM_URL is not set: run the tests through run.mjs');

let pb, andy, ws, fake;
const prisms = [];

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// startPrism runs `prism <args>` on a free port and resolves once it listens.
async function startPrism(mode, ...rest) {
  const port = await freePort();
  const child = spawn(PRISM, [mode, '-h', '127.0.0.1', '-p', String(port), SPEC, ...rest], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = { child, port, url: `http://127.0.0.1:${port}`, log: '' };
  prisms.push(p);
  const exited = new Promise((r) => child.on('exit', r));
  p.exited = exited;
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`prism ${mode} did not start in 30 s:\n${p.log}`)), 30_000);
    const onData = (chunk) => {
      p.log += chunk.toString();
      if (p.log.includes('Prism is listening')) {
        clearTimeout(timer);
        ok();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`prism ${mode} exited (${code}):\n${p.log}`));
    });
  });
  return p;
}

async function stopPrism(p) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const done = await Promise.race([p.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
  if (!done) p.child.kill('SIGKILL');
}

// expectCode: the error's status and data.code; returns data
async function expectCode(promise, status, code, what) {
  return (await expectError(promise, status, what, code)).response.data;
}

const providerPath = (id) => `/api/crm/workspaces/${id}/providers/ai`;

function configure(baseURL, extra = {}) {
  return pb.send(providerPath(ws.id), {
    method: 'PUT',
    body: { base_url: baseURL, model: 'fake-model', api_key: API_KEY, temperature: 0.3, max_tokens: 1500, timeout_s: 20, ...extra },
  });
}

const brief = (channel, extra = {}) => ({
  workspace: ws.id,
  channel,
  goal: 'announce the spring sale',
  audience: 'regular customers',
  tone: 'warm',
  must_haves: ['20% off', 'until Sunday'],
  language: 'English',
  ...extra,
});

const generate = (channel, extra) => pb.send('/api/crm/templates/generate', { method: 'POST', body: brief(channel, extra) });

async function countTemplates() {
  return (await pb.collection('templates').getList(1, 1, { filter: `workspace = "${ws.id}"` })).totalItems;
}

async function usageRows() {
  return (await pb.collection('ai_usage').getFullList({ filter: `workspace = "${ws.id}"`, sort: 'created' })).map((r) => r);
}

before(async () => {
  fake = await startAIFake();
  pb = new PocketBase(URL);
  pb.autoCancellation(false);
  await pb.collection('users').authWithPassword('andy@example.com', PASSWORD);
  andy = pb.authStore.record;
  ws = await pb.collection('workspaces').getFirstListItem(`name = "Andy's workspace"`);
});

after(async () => {
  for (const p of prisms) await stopPrism(p);
  await fake?.close();
});

test('a workspace without AI says so and where to set it', async () => {
  const fresh = await pb.collection('workspaces').create({ name: `AI-less ${Date.now()}`, owner: andy.id });
  const view = await pb.send(providerPath(fresh.id), {});
  assert.equal(view.configured, false);
  assert.equal(view.has_api_key, false);
  const data = await expectCode(
    pb.send('/api/crm/templates/generate', { method: 'POST', body: { ...brief('email'), workspace: fresh.id } }),
    400,
    'ai_not_configured',
    'generate without AI',
  );
  assert.equal(data.settings_url, '/settings/ai');
});

test('configure the provider (the key is write-only) and test it', async () => {
  const saved = await configure(fake.url);
  assert.equal(saved.has_api_key, true);
  assert.equal(saved.configured, true);
  assert.equal(saved.base_url, fake.url);
  assert.ok(!JSON.stringify(saved).includes(API_KEY), 'PUT answers the key');
  const view = await pb.send(providerPath(ws.id), {});
  assert.ok(!JSON.stringify(view).includes(API_KEY), 'GET answers the key');
  assert.equal(view.max_tokens, 1500);

  const bad = await expectCode(
    pb.send(providerPath(ws.id), { method: 'PUT', body: { base_url: 'ftp://x', model: 'm', temperature: 9 } }),
    400,
    'ai_settings_invalid',
    'bad settings',
  );
  assert.ok(bad.fields.base_url && bad.fields.temperature, JSON.stringify(bad));

  const before = fake.requests.length;
  const res = await pb.send(`${providerPath(ws.id)}/test`, { method: 'POST' });
  assert.equal(res.model, 'fake-model');
  assert.equal(typeof res.latency_ms, 'number');
  assert.equal(fake.requests.length, before + 1);
  const rows = await usageRows();
  assert.equal(rows.at(-1).purpose, 'provider_test');
  assert.equal(rows.at(-1).status, 'ok');
});

test('an email draft is generated, saved as a draft and its usage recorded', async () => {
  fake.setMode('ok');
  const before = fake.requests.length;
  const draft = await generate('email');
  assert.equal(draft.status, 'draft');
  assert.equal(draft.channel, 'email');
  assert.equal(draft.version, 1);
  assert.equal(draft.subject, 'Our spring sale starts today');
  assert.match(draft.body_html, /unsubscribe_url/);
  const saved = await pb.collection('templates').getOne(draft.id);
  assert.equal(saved.ai_prompt.goal, 'announce the spring sale');
  assert.deepEqual(saved.ai_prompt.must_haves, ['20% off', 'until Sunday']);

  const req = fake.requests[before];
  assert.equal(req.response_format.type, 'json_schema');
  assert.equal(req.model, 'fake-model');
  // no contact's data in the prompt: the demo contacts' emails end in example.com/.org
  assert.doesNotMatch(JSON.stringify(req.messages), /@example\.(com|org)/);

  const row = (await usageRows()).at(-1);
  assert.equal(row.purpose, 'template_generate');
  assert.equal(row.status, 'ok');
  assert.equal(row.user, andy.id);
  assert.equal(row.model, 'fake-model');
  assert.ok(row.prompt_tokens > 0 && row.completion_tokens > 0 && row.total_tokens === row.prompt_tokens + row.completion_tokens, JSON.stringify(row));
});

test('an SMS draft is generated and saved', async () => {
  const draft = await generate('sms', { name: `E2E SMS ${Date.now()}` });
  assert.equal(draft.channel, 'sms');
  assert.equal(draft.status, 'draft');
  assert.match(draft.body_text, /spring sale/);
  assert.equal(draft.subject, '');
  assert.equal((await usageRows()).at(-1).purpose, 'template_generate');
});

test('a rewrite is a new draft version, the old one kept', async () => {
  const v1 = await generate('email', { name: `E2E rewrite ${Date.now()}` });
  const v2 = await pb.send(`/api/crm/templates/${v1.id}/rewrite`, { method: 'POST', body: { instruction: 'make it shorter' } });
  assert.equal(v2.previous, v1.id);
  assert.equal(v2.version, 2);
  assert.equal(v2.name, `${v1.name} (v2)`);
  const old = await pb.collection('templates').getOne(v1.id);
  assert.equal(old.updated, v1.updated);
});

test('a malformed answer is ai_bad_output: nothing saved, the usage still recorded', async () => {
  fake.setMode('malformed');
  const templates = await countTemplates();
  const usage = (await usageRows()).length;
  const data = await expectCode(generate('email'), 502, 'ai_bad_output', 'malformed');
  assert.match(data.reason, /not JSON/);
  assert.equal(await countTemplates(), templates);
  const rows = await usageRows();
  assert.equal(rows.length, usage + 1);
  assert.equal(rows.at(-1).status, 'error');
  assert.equal(rows.at(-1).error_code, 'ai_bad_output');
  assert.ok(rows.at(-1).total_tokens > 0);
});

test('an upstream 500 is ai_upstream_error with the server message', async () => {
  fake.setMode('error500');
  const data = await expectCode(generate('email'), 502, 'ai_upstream_error', 'error500');
  assert.equal(data.upstream, 'the fake model is on fire');
});

test('a slow server is ai_timeout at the configured limit', async () => {
  await configure(fake.url, { timeout_s: 1 });
  fake.setMode('slow');
  const start = Date.now();
  await expectCode(generate('sms'), 504, 'ai_timeout', 'slow');
  assert.ok(Date.now() - start < 10_000, `took ${Date.now() - start} ms`);
  await configure(fake.url);
});

test('a server without json_schema: the JSON-mode retry works', async () => {
  fake.setMode('no-json-schema');
  const before = fake.requests.length;
  const draft = await generate('email');
  assert.equal(draft.status, 'draft');
  const types = fake.requests.slice(before).map((r) => r.response_format?.type);
  assert.deepEqual(types, ['json_schema', 'json_object']);
  fake.setMode('ok');
});

test('Prism proxy: OpenAI\'s spec accepts the real request on its way to the fake', async (t) => {
  if (!existsSync(PRISM) || !existsSync(SPEC)) {
    assert.fail(`prism (${PRISM}) or the spec (${SPEC}) is missing: npm ci in e2e/`);
  }
  fake.setMode('ok');
  const upstream = fake.url.replace(/\/v1$/, ''); // the trimmed spec's paths have no /v1
  const prism = await startPrism('proxy', upstream, '--errors');
  // the spec's path is /chat/completions: the base URL is Prism without /v1
  await configure(prism.url);
  const before = fake.requests.length;
  const draft = await generate('email', { name: `E2E prism ${Date.now()}` });
  assert.equal(draft.status, 'draft');
  const saved = await pb.collection('templates').getOne(draft.id);
  assert.equal(saved.id, draft.id);
  // the structured-output request itself passed (no fallback after a 422)
  const types = fake.requests.slice(before).map((r) => r.response_format?.type);
  assert.deepEqual(types, ['json_schema']);
  const sms = await generate('sms');
  assert.equal(sms.channel, 'sms');
  const test = await pb.send(`${providerPath(ws.id)}/test`, { method: 'POST' });
  assert.equal(test.model, 'fake-model');
  assert.doesNotMatch(prism.log, /violation|sl-violations/i, prism.log);
  // control: the same proxy refuses a request that breaks the spec (so the
  // passes above mean something)
  const refused = await fetch(`${prism.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-x' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 5 }),
  });
  assert.equal(refused.status, 422, await refused.text());
  t.diagnostic(`prism proxy log:\n${prism.log.slice(-1500)}`);
  await stopPrism(prism);
});

test('Prism mock: the request is accepted; the spec\'s example answer is not our JSON (ai_bad_output)', async (t) => {
  const prism = await startPrism('mock');
  await configure(prism.url);
  const data = await expectCode(generate('email'), 502, 'ai_bad_output', 'prism mock');
  assert.ok(data.reason, JSON.stringify(data));
  assert.doesNotMatch(prism.log, /violation/i, prism.log);
  assert.match(prism.log, /passed the validation rules/, prism.log);
  t.diagnostic(`prism mock log:\n${prism.log.slice(-1500)}`);
  await stopPrism(prism);
  await configure(fake.url);
});
