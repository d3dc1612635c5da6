// A local OpenAI-compatible chat completions server for the e2e tests (the API
// tests and the browser wizard): what pi-crm's go-openai client talks to when a
// workspace's AI base_url points here.
//
//   import { startAIFake } from '../ai-fake.mjs';
//   const fake = await startAIFake();
//   // fake.url        http://127.0.0.1:PORT/v1  (the base_url to configure)
//   // fake.requests   the parsed JSON bodies received by POST …/chat/completions, in order
//   // fake.setMode(m) how the next answers behave (see MODES)
//   await fake.close();
//
// Answers follow OpenAI's wire format (a `chat.completion` object valid under
// ../shared/specs/openai_chat_completions.trimmed.yaml, and OpenAI's error
// object). The message content of a draft request is a JSON draft:
//   email → {name, subject, preheader, body_html, body_text}
//   sms   → {name, body_text}
// The channel is read from the request: the JSON schema of a json_schema
// response format (a `body_html` property means email), or, in JSON mode, the
// prompt's text (it names `body_html` for email only). A request without a
// response format (the provider test) gets the content "OK".
//
// Both /v1/chat/completions and /chat/completions are served (a proxy in front
// may strip the /v1 of the spec's server URL), and GET /v1/models.

import { createServer } from 'node:http';

export const MODES = [
  'ok', // a valid draft
  'malformed', // content that is not JSON
  'error500', // HTTP 500 with an OpenAI error object
  'slow', // answers a valid draft after SLOW_MS (the client's timeout should fire first)
  'no-json-schema', // 400 for response_format json_schema (like servers without structured output); JSON mode works
  'unknown-placeholder', // a valid JSON draft whose body uses a placeholder that does not exist
];

export const SLOW_MS = 30_000;
export const UPSTREAM_MESSAGE = 'the fake model is on fire';
export const NO_SCHEMA_MESSAGE =
  "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.";

function messagesText(body) {
  const parts = [];
  for (const m of body?.messages || []) {
    if (typeof m.content === 'string') parts.push(m.content);
    else if (Array.isArray(m.content)) for (const p of m.content) if (p?.text) parts.push(p.text);
  }
  return parts.join('\n');
}

// channelOf: 'email' | 'sms' | 'insights' (the insights summary, whose
// schema has findings) | null (not a draft request)
export function channelOf(body) {
  const rf = body?.response_format;
  if (rf?.type === 'json_schema') {
    const props = rf.json_schema?.schema?.properties || {};
    if ('findings' in props) return 'insights';
    return 'body_html' in props ? 'email' : 'sms';
  }
  if (rf?.type === 'json_object') {
    const text = messagesText(body);
    if (text.includes('"findings"')) return 'insights';
    return text.includes('body_html') ? 'email' : 'sms';
  }
  return null;
}

// INSIGHTS_ANSWER: the summary the fake writes for an insights request
export const INSIGHTS_ANSWER = {
  confidence: 0.7,
  findings: [
    { finding: 'Few contacts were added this week', action: 'import the contacts from the trade fair', metric: 'contacts_added' },
    { finding: 'Some contacts have no phone number', action: 'complete them in Contacts', metric: 'contacts_without_phone' },
    { finding: 'No campaign has been sent', action: 'plan a first campaign', metric: 'campaign_results' },
  ],
};

export function draftFor(channel, { unknownPlaceholder = false } = {}) {
  const who = unknownPlaceholder ? '{{no_such_field}}' : '{{first_name | default "there"}}';
  if (channel === 'sms') {
    return {
      name: 'Spring sale SMS',
      body_text: `Hi ${who}, our spring sale starts today: 20% off everything until Sunday. Reply STOP to opt out.`,
    };
  }
  return {
    name: 'Spring sale newsletter',
    subject: 'Our spring sale starts today',
    preheader: '20% off everything until Sunday',
    body_html:
      `<h1>Hello ${who}!</h1>` +
      '<p>Our spring sale starts today: <strong>20% off everything</strong> until Sunday.</p>' +
      '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>',
    body_text:
      `Hello ${who}!\n\nOur spring sale starts today: 20% off everything until Sunday.\n\n` +
      'Unsubscribe: {{unsubscribe_url}}',
  };
}

function completion(body, content) {
  const prompt = Math.max(1, Math.ceil(messagesText(body).length / 4));
  const done = Math.max(1, Math.ceil(content.length / 4));
  return {
    id: `chatcmpl-fake${Date.now().toString(36)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body?.model || 'fake-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: prompt, completion_tokens: done, total_tokens: prompt + done },
  };
}

function openAIError(message, type, param = null, code = null) {
  return { error: { message, type, param, code } };
}

export async function startAIFake({ mode: initialMode = 'ok' } = {}) {
  let mode = initialMode;
  const requests = [];
  const sockets = new Set();
  const timers = new Set();

  const send = (res, status, obj) => {
    if (res.destroyed) return;
    const data = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
    res.end(data);
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname.replace(/\/+$/, '');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
        send(res, 200, {
          object: 'list',
          data: [{ id: 'fake-model', object: 'model', created: 1700000000, owned_by: 'pi-crm-e2e' }],
        });
        return;
      }
      if (req.method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/chat/completions')) {
        send(res, 404, openAIError(`no route ${req.method} ${path}`, 'invalid_request_error'));
        return;
      }
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        send(res, 400, openAIError('the request body is not JSON', 'invalid_request_error'));
        return;
      }
      requests.push(body);
      const channel = channelOf(body);
      const answer = () => {
        const content = channel === 'insights' ? JSON.stringify(INSIGHTS_ANSWER) : channel ? JSON.stringify(draftFor(channel)) : 'OK';
        send(res, 200, completion(body, content));
      };

      switch (mode) {
        case 'malformed':
          send(res, 200, completion(body, channel ? '{"name": "Half a draft", "subject": "Oops' : 'OK'));
          return;
        case 'error500':
          send(res, 500, openAIError(UPSTREAM_MESSAGE, 'server_error'));
          return;
        case 'slow': {
          const t = setTimeout(() => {
            timers.delete(t);
            answer();
          }, SLOW_MS);
          timers.add(t);
          res.on('close', () => {
            clearTimeout(t);
            timers.delete(t);
          });
          return;
        }
        case 'no-json-schema':
          if (body?.response_format?.type === 'json_schema') {
            send(res, 400, openAIError(NO_SCHEMA_MESSAGE, 'invalid_request_error', 'response_format'));
            return;
          }
          answer();
          return;
        case 'unknown-placeholder':
          send(
            res,
            200,
            completion(body, channel ? JSON.stringify(draftFor(channel, { unknownPlaceholder: true })) : 'OK'),
          );
          return;
        default:
          answer();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address();

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setMode(m) {
      if (!MODES.includes(m)) throw new Error(`ai-fake: unknown mode ${m} (one of ${MODES.join(', ')})`);
      mode = m;
    },
    get mode() {
      return mode;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}
