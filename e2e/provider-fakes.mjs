// Test servers for the remote providers, on 127.0.0.1, that the server under
// test reaches through each provider's base_url:
//
//   - startPrism(spec): Stoplight Prism serving the provider's own trimmed
//     OpenAPI document (specs/, as internal/prismtest does for the Go tests:
//     Mailgun's and Twilio's), behind a recording proxy. Prism checks each
//     request against the document and reports what it rejects in an
//     sl-violations header (or answers 422), which the SDKs never show: the
//     proxy keeps them for the test to assert on, with every request's body.
//   - startGmailFake: Google's token endpoint (the JWT-bearer exchange of a
//     service account, the assertion's RS256 signature checked with the
//     account's public key) and users.messages.send ({raw}: base64url RFC
//     2822), over https.
//   - startGraphFake: Microsoft Entra ID's OpenID configuration and token
//     endpoint (client credentials, the .default scope) and Graph's
//     POST /v1.0/users/{id}/sendMail in its MIME form (base64 text/plain,
//     gzip as the SDK sends it), over https.
//
// The https fakes use the certificate run.mjs made for this run for
// 127.0.0.1 (PICRM_TLS_CERT, PICRM_TLS_KEY), which the server under test
// trusts (SSL_CERT_FILE): Graph's SDKs take only an https authority (MSAL)
// and send tokens over https only.
import { spawn } from 'node:child_process';
import { createServer as createHttp, request as httpRequest } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createNet } from 'node:net';
import { readFileSync } from 'node:fs';
import { createPublicKey, verify, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PRISM = join(here, 'node_modules', '.bin', 'prism');
const SPECS = resolve(process.env.PICRM_SPECS || join(here, 'specs'));

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createNet();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const readBody = (req) =>
  new Promise((ok, fail) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });

const listen = (srv) => new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv.address().port)));
const closeServer = (srv) => new Promise((ok) => { srv.closeAllConnections?.(); srv.close(() => ok()); });

// startPrism serves specs/<spec> with `prism mock` behind a recording proxy.
// rewrite(json, request) may change an answer's JSON (Prism answers the
// document's one example to every request). Returns {url, requests,
// violations(), stop()}; requests are {method, path, status, body} with the
// raw request body as a latin1 string.
export async function startPrism(spec, { rewrite } = {}) {
  const port = await freePort();
  const child = spawn(PRISM, ['mock', '-h', '127.0.0.1', '-p', String(port), join(SPECS, spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise((r) => child.on('exit', r));
  await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`prism did not start in 60 s:\n${log}`)), 60_000);
    const onData = (chunk) => {
      log += chunk.toString();
      if (log.includes('Prism is listening')) { clearTimeout(timer); ok(); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => { clearTimeout(timer); fail(new Error(`prism exited (${code}):\n${log}`)); });
  });
  const requests = [];
  const violations = [];
  const proxy = createHttp(async (req, res) => {
    const body = await readBody(req);
    const rec = { method: req.method, path: req.url.split('?')[0], status: 0, body: body.toString('latin1'), headers: req.headers };
    requests.push(rec);
    const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${port}` } }, async (ur) => {
      let answer = await readBody(ur);
      rec.status = ur.statusCode;
      if (ur.headers['sl-violations']) violations.push(`${req.method} ${rec.path}: ${ur.headers['sl-violations']}`);
      else if (ur.statusCode === 422) violations.push(`${req.method} ${rec.path}: ${answer.toString()}`);
      const headers = { ...ur.headers };
      if (rewrite && /json/.test(ur.headers['content-type'] || '') && ur.statusCode < 300) {
        answer = Buffer.from(JSON.stringify(rewrite(JSON.parse(answer.toString()), rec)));
        delete headers['content-length'];
        delete headers['transfer-encoding'];
      }
      res.writeHead(ur.statusCode, headers);
      res.end(answer);
    });
    up.on('error', (err) => { rec.status = 502; res.writeHead(502); res.end(String(err)); });
    up.end(body);
  });
  const proxyPort = await listen(proxy);
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    requests,
    violations: () => [...violations],
    log: () => log,
    async stop() {
      await closeServer(proxy);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
        if (!done) child.kill('SIGKILL');
      }
    },
  };
}

// formOf reads a recorded request's form (multipart/form-data or
// x-www-form-urlencoded) as a URLSearchParams (a field may repeat).
export function formOf(rec) {
  const type = String(rec.headers['content-type'] || '');
  if (type.startsWith('application/x-www-form-urlencoded')) return new URLSearchParams(Buffer.from(rec.body, 'latin1').toString('utf8'));
  const m = /^multipart\/form-data;\s*boundary="?([^";]+)"?/i.exec(type);
  if (!m) throw new Error(`not a form: ${type}`);
  const out = new URLSearchParams();
  for (const part of rec.body.split('--' + m[1]).slice(1)) {
    if (part.startsWith('--')) break;
    const end = part.indexOf('\r\n\r\n');
    const name = /name="([^"]*)"/.exec(part.slice(0, end))?.[1];
    if (end < 0 || name === undefined) throw new Error('a multipart part without a name');
    out.append(name, Buffer.from(part.slice(end + 4).replace(/\r\n$/, ''), 'latin1').toString('utf8'));
  }
  return out;
}

// tls is this run's certificate for 127.0.0.1 and localhost (run.mjs).
export function tls() {
  const cert = process.env.PICRM_TLS_CERT;
  const key = process.env.PICRM_TLS_KEY;
  if (!cert || !key) throw new Error('PICRM_TLS_CERT/PICRM_TLS_KEY are not set: run the tests through run.mjs');
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

// parseMessage reads an RFC 2822 message: its headers (names lower-cased,
// folded lines joined) and body. Throws on a message without a blank line
// between them.
export function parseMessage(raw) {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no end of headers (CRLF CRLF) in the message');
  const headers = {};
  for (const line of text.slice(0, end).replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`not a header line: ${JSON.stringify(line)}`);
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body: text.slice(end + 4) };
}

// checkMessage: the message pi-crm writes (services/senders/mimemsg): one
// recipient, a subject, our Message-ID, the unsubscribe headers, both parts.
// Returns the problems found (none: []).
export function checkMessage(m) {
  const bad = [];
  for (const h of ['from', 'to', 'subject', 'message-id', 'date', 'mime-version']) if (!m.headers[h]) bad.push(`no ${h} header`);
  if (!/^multipart\/alternative;\s*boundary=/i.test(m.headers['content-type'] || '')) bad.push(`content-type ${m.headers['content-type']}`);
  if (!/^<[^<>@\s]+@[^<>@\s]+>$/.test(m.headers['message-id'] || '')) bad.push(`message-id ${m.headers['message-id']}`);
  if (!/text\/plain/i.test(m.body) || !/text\/html/i.test(m.body)) bad.push('not both a text and an HTML part');
  return bad;
}

// the scopes a service account may be granted here (sending and look-ups)
const GMAIL_SCOPES = ['gmail.send', 'gmail.readonly', 'gmail.metadata'].map((s) => 'https://www.googleapis.com/auth/' + s);

const json = (res, status, obj) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(obj));
};

// startGmailFake: the service account {clientEmail, publicKey (PEM),
// tokenURI} may act as user; every request and problem is recorded.
// Returns {url, sent (the parsed messages), tokens, problems, stop()}.
export async function startGmailFake({ clientEmail, publicKey, tokenURI, user }) {
  const pub = createPublicKey(publicKey);
  const state = { sent: [], tokens: 0, problems: [], requests: [] };
  const tokens = new Map(); // access token → the scope it was granted
  const srv = createHttps(tls(), async (req, res) => {
    const body = await readBody(req);
    const path = req.url.split('?')[0];
    state.requests.push(`${req.method} ${path}`);
    if (req.method === 'POST' && path === '/token') {
      const form = new URLSearchParams(body.toString());
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
        state.problems.push(`token grant_type ${form.get('grant_type')}`);
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      const [h, p, s] = String(form.get('assertion') || '').split('.');
      const ok = h && p && s && verify('sha256', Buffer.from(`${h}.${p}`), pub, Buffer.from(s, 'base64url'));
      const header = ok ? JSON.parse(Buffer.from(h, 'base64url')) : {};
      const claims = ok ? JSON.parse(Buffer.from(p, 'base64url')) : {};
      const now = Date.now() / 1000;
      const why = !ok ? 'the assertion is not signed with the service account key'
        : header.alg !== 'RS256' ? `alg ${header.alg}`
        : claims.iss !== clientEmail ? `iss ${claims.iss}`
        : claims.sub !== user ? `sub ${claims.sub}`
        : claims.aud !== tokenURI ? `aud ${claims.aud}`
        : !GMAIL_SCOPES.includes(claims.scope) ? `scope ${claims.scope}`
        : !(claims.exp > now && claims.iat <= now + 60) ? 'expired or from the future'
        : '';
      if (why) {
        state.problems.push('token: ' + why);
        return json(res, 400, { error: 'invalid_grant', error_description: why });
      }
      state.tokens++;
      const t = 'ya29.fake-' + randomBytes(8).toString('hex');
      tokens.set(t, claims.scope);
      return json(res, 200, { access_token: t, token_type: 'Bearer', expires_in: 3599 });
    }
    if (req.method === 'POST' && path === '/gmail/v1/users/me/messages/send') {
      const auth = String(req.headers.authorization || '');
      if (tokens.get(auth.replace(/^Bearer /, '')) !== 'https://www.googleapis.com/auth/gmail.send') {
        state.problems.push(`send without a gmail.send token it was given (${auth.slice(0, 12)}…)`);
        return json(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
      }
      let raw;
      try {
        const b = JSON.parse(body.toString());
        if (typeof b.raw !== 'string' || !/^[A-Za-z0-9_-]+=*$/.test(b.raw)) throw new Error('raw is not base64url');
        raw = Buffer.from(b.raw, 'base64url');
      } catch (err) {
        state.problems.push('send: ' + err.message);
        return json(res, 400, { error: { code: 400, message: "Invalid value at 'message.raw'", status: 'INVALID_ARGUMENT' } });
      }
      let m;
      try {
        m = parseMessage(raw);
      } catch (err) {
        state.problems.push('send: ' + err.message);
        return json(res, 400, { error: { code: 400, message: 'Invalid RFC 2822 message', status: 'INVALID_ARGUMENT' } });
      }
      const bad = checkMessage(m);
      if (bad.length) state.problems.push('send: ' + bad.join(', '));
      const id = '18c' + randomBytes(6).toString('hex');
      state.sent.push({ id, ...m });
      return json(res, 200, { id, threadId: id, labelIds: ['SENT'] });
    }
    if (req.method === 'GET' && path === '/gmail/v1/users/me/messages') {
      // the provider test's look-up of its message: q=rfc822msgid:<id>, with a read-scoped token
      const scope = tokens.get(String(req.headers.authorization || '').replace(/^Bearer /, ''));
      if (!scope || scope.endsWith('/gmail.send')) {
        state.problems.push(`a look-up without a read-scoped token (${scope})`);
        return json(res, 403, { error: { code: 403, message: 'Request had insufficient authentication scopes.', status: 'PERMISSION_DENIED' } });
      }
      const q = new URL(req.url, 'https://x').searchParams.get('q') || '';
      const id = q.startsWith('rfc822msgid:') ? q.slice('rfc822msgid:'.length) : null;
      if (id === null) state.problems.push(`a look-up by ${q}`);
      const hits = state.sent.filter((m) => (m.headers['message-id'] || '').replace(/^<|>$/g, '') === id);
      return json(res, 200, hits.length ? { messages: hits.map((m) => ({ id: m.id, threadId: m.id })), resultSizeEstimate: hits.length } : { resultSizeEstimate: 0 });
    }
    state.problems.push(`unexpected ${req.method} ${req.url}`);
    json(res, 404, { error: { code: 404, message: 'Not Found' } });
  });
  const port = await listen(srv);
  return { url: `https://127.0.0.1:${port}`, ...state, get tokens() { return state.tokens; }, stop: () => closeServer(srv) };
}

// startGraphFake: the app {tenant, clientId, secret} may send as mailbox.
// Returns {url, sent (the parsed messages), gzipped, tokens, problems, stop()}.
export async function startGraphFake({ tenant, clientId, secret, mailbox }) {
  const state = { sent: [], problems: [], requests: [] };
  let tokens = 0;
  let gzipped = 0;
  let url = '';
  const issued = new Set();
  const login = '/' + tenant;
  const srv = createHttps(tls(), async (req, res) => {
    let body = await readBody(req);
    const path = req.url.split('?')[0];
    state.requests.push(`${req.method} ${path}`);
    if (req.method === 'GET' && path === login + '/v2.0/.well-known/openid-configuration') {
      const base = url + login;
      return json(res, 200, { token_endpoint: base + '/oauth2/v2.0/token', authorization_endpoint: base + '/oauth2/v2.0/authorize', issuer: base + '/v2.0' });
    }
    if (req.method === 'POST' && path === login + '/oauth2/v2.0/token') {
      const form = new URLSearchParams(body.toString());
      if (form.get('grant_type') !== 'client_credentials' || !` ${form.get('scope')} `.includes(' https://graph.microsoft.com/.default ')) {
        state.problems.push(`token form ${form}`);
        return json(res, 400, { error: 'invalid_request' });
      }
      if (form.get('client_id') !== clientId || form.get('client_secret') !== secret) {
        state.problems.push('token: wrong client id or secret');
        return json(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.', error_codes: [7000215] });
      }
      tokens++;
      const t = 'eyJ0.fake-graph.' + randomBytes(8).toString('hex');
      issued.add(t);
      return json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: t });
    }
    const m = /^\/v1\.0\/users\/([^/]+)\/sendMail$/.exec(path);
    if (req.method === 'POST' && m) {
      const odata = (status, code, message) => json(res, status, { error: { code, message, innerError: { 'request-id': 'r1' } } });
      if (!issued.has(String(req.headers.authorization || '').replace(/^Bearer /, ''))) {
        state.problems.push('sendMail without a token it was given');
        return odata(401, 'InvalidAuthenticationToken', 'Access token is empty.');
      }
      if (decodeURIComponent(m[1]).toLowerCase() !== mailbox.toLowerCase()) {
        state.problems.push(`sendMail as ${m[1]}`);
        return odata(404, 'ErrorInvalidUser', `The requested user '${m[1]}' is invalid.`);
      }
      if (req.headers['content-encoding'] === 'gzip') {
        body = gunzipSync(body);
        gzipped++;
      }
      if (req.headers['content-type'] !== 'text/plain') {
        state.problems.push(`sendMail content type ${req.headers['content-type']} (the MIME form is text/plain)`);
        return odata(415, 'UnsupportedMediaType', String(req.headers['content-type']));
      }
      const b64 = body.toString().trim();
      if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) {
        state.problems.push('sendMail: the body is not base64');
        return odata(400, 'ErrorMimeContentInvalidBase64String', 'Invalid base64 string for MIME content.');
      }
      let msg;
      try {
        msg = parseMessage(Buffer.from(b64, 'base64'));
      } catch (err) {
        state.problems.push('sendMail: ' + err.message);
        return odata(400, 'ErrorMimeContentInvalid', 'The MIME content is not valid.');
      }
      const bad = checkMessage(msg);
      if (bad.length) state.problems.push('sendMail: ' + bad.join(', '));
      state.sent.push(msg);
      res.writeHead(202);
      return res.end();
    }
    const look = /^\/v1\.0\/users\/([^/]+)\/mailFolders\/sentitems\/messages$/.exec(path);
    if (req.method === 'GET' && look) {
      // the provider test's look-up of its message in Sent Items, by internetMessageId
      if (!issued.has(String(req.headers.authorization || '').replace(/^Bearer /, ''))) {
        state.problems.push('a look-up without a token it was given');
        return json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
      }
      const filter = new URL(req.url, 'https://x').searchParams.get('$filter') || '';
      const m = /^internetMessageId eq '(.*)'$/.exec(filter);
      const hits = m ? state.sent.filter((s) => s.headers['message-id'] === m[1].replace(/''/g, "'")) : [];
      return json(res, 200, { value: hits.map((s, i) => ({ id: 'AAMk' + i, internetMessageId: s.headers['message-id'] })) });
    }
    state.problems.push(`unexpected ${req.method} ${req.url}`);
    json(res, 404, { error: { code: 'NotFound', message: 'Not found' } });
  });
  const port = await listen(srv);
  url = `https://127.0.0.1:${port}`;
  return { url, ...state, get tokens() { return tokens; }, get gzipped() { return gzipped; }, stop: () => closeServer(srv) };
}
