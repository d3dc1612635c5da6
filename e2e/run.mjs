// The e2e runner: a fresh pi-crm server with the demo data, then every
// tests/*.test.mjs file against it (node:test), then cleanup.
//
//   BIN=../bin/pi-crm node run.mjs                  # all test files
//   BIN=../bin/pi-crm node run.mjs tests/sdk.test.mjs  # some of them
//
// The test files get the server through the environment:
//   PICRM_URL        http://127.0.0.1:PORT (the server listens on 127.0.0.1 only)
//   PICRM_PASSWORD   the demo users' password
//   PICRM_CHROMIUM   the browser for playwright-core (default /usr/bin/chromium)
//   PICRM_TLS_CERT, PICRM_TLS_KEY
//                    a self-signed certificate for 127.0.0.1 made for this run
//                    (openssl), which the server trusts (SSL_CERT_FILE): the
//                    https fakes of remote providers serve with it
// Files run one after another (they share one server and its data); inside a
// file, node:test runs top-level tests in order.
//
// Exit code: the one of `node --test` (0 when all passed); 1 when the server
// could not be prepared. The server's log is printed whenever something failed.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, existsSync, readFileSync, appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.env.BIN || join(here, '..', 'bin', 'pi-crm'));
const PASSWORD = process.env.PICRM_DEMO_PASSWORD || 'pi-crm-demo';
const HEALTH_TIMEOUT_MS = 20_000;
// per test, and node applies it to each test file as a whole as well: the
// browser tests (tests/ui.test.mjs) take longer than a minute together and
// give each of their tests a tighter timeout of their own
const TEST_TIMEOUT_MS = 300_000;
const MAX_LOG = 256 * 1024; // keep the tail of the server log

function log(...args) {
  console.error('[e2e]', ...args);
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function testFiles() {
  const args = process.argv.slice(2);
  if (args.length) return args.map((f) => resolve(f));
  const dir = join(here, 'tests');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.mjs'))
    .sort()
    .map((f) => join(dir, f));
}

let serverLog = '';
function appendLog(chunk) {
  serverLog += chunk.toString();
  if (dataDir) appendFileSync(join(dataDir, 'server-output.log'), chunk);
  if (serverLog.length > MAX_LOG) serverLog = serverLog.slice(-MAX_LOG);
}

function printServerLog() {
  console.error('\n----- pi-crm server log -----');
  console.error(serverLog.trimEnd() || '(empty)');
  console.error('----- end of server log -----\n');
}

let server = null;
let testChild = null;
let serverExited = null; // resolves with { code, signal }
let dataDir = null;
let tlsDir = null;

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  server.kill('SIGTERM');
  const killed = await Promise.race([serverExited, sleep(5000).then(() => null)]);
  if (killed === null) {
    log('server did not stop after SIGTERM; sending SIGKILL');
    server.kill('SIGKILL');
    await serverExited;
  }
}

async function cleanup() {
  await stopServer();
  if (dataDir) {
    rmSync(dataDir, { recursive: true, force: true });
    dataDir = null;
  }
  if (tlsDir) {
    rmSync(tlsDir, { recursive: true, force: true });
    tlsDir = null;
  }
}

// testCertificate makes a self-signed certificate for 127.0.0.1 and
// localhost, valid two days, outside the data directory (backups would zip
// it), or says why it could not.
function testCertificate() {
  tlsDir = mkdtempSync(join(tmpdir(), 'pi-crm-e2e-tls-'));
  const cert = join(tlsDir, 'cert.pem');
  const key = join(tlsDir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl could not make the test certificate (install openssl): ${r.error?.message || r.stderr}`);
  return { cert, key };
}

async function waitHealthy(url) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`the server exited early (code ${server.exitCode}, signal ${server.signalCode})`);
    }
    try {
      const res = await fetch(url + '/api/health', { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.cause?.code || err.message;
    }
    await sleep(100);
  }
  throw new Error(`GET /api/health did not answer 200 within ${HEALTH_TIMEOUT_MS / 1000}s (last: ${last})`);
}

function runTests(files, env) {
  return new Promise((ok) => {
    const child = spawn(
      process.execPath,
      [
        '--test',
        '--test-reporter=spec',
        '--test-concurrency=1',
        `--test-timeout=${TEST_TIMEOUT_MS}`,
        ...files,
      ],
      { cwd: here, env, stdio: 'inherit' },
    );
    testChild = child;
    child.on('exit', (code, signal) => {
      testChild = null;
      ok(code ?? (signal ? 1 : 0));
    });
  });
}

async function main() {
  if (!existsSync(BIN)) {
    log(`no binary at ${BIN}: run "make build" first (or set BIN)`);
    return 1;
  }
  const files = testFiles();
  if (!files.length) {
    log('no tests/*.test.mjs files');
    return 1;
  }

  dataDir = mkdtempSync(join(tmpdir(), 'pi-crm-e2e-'));
  log(`data dir ${dataDir}`);

  const seed = spawnSync(BIN, ['demo', '--dir', dataDir, '--password', PASSWORD], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  appendLog(`$ pi-crm demo\n${seed.stdout || ''}${seed.stderr || ''}`);
  if (seed.status !== 0) {
    log(`"pi-crm demo" failed (status ${seed.status}${seed.error ? ', ' + seed.error.message : ''})`);
    printServerLog();
    return 1;
  }

  const tls = testCertificate();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  appendLog(`$ pi-crm serve --http 127.0.0.1:${port}\n`);
  server = spawn(BIN, ['serve', '--dir', dataDir, '--http', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Go reads its roots from SSL_CERT_FILE: the server trusts the fakes' certificate
    env: { ...process.env, SSL_CERT_FILE: tls.cert },
  });
  serverExited = new Promise((r) => server.on('exit', (code, signal) => r({ code, signal })));
  server.stdout.on('data', appendLog);
  server.stderr.on('data', appendLog);

  try {
    await waitHealthy(url);
  } catch (err) {
    log(err.message);
    printServerLog();
    return 1;
  }
  log(`server up at ${url}; running ${files.length} test file(s)`);

  // tests that configure a secret (a provider's key, token or password)
  // write it here, one a line (../secrets.mjs); after the suite the server's
  // output and its log database must hold none of them
  const secretsFile = join(dataDir, 'configured-secrets.txt');
  const code0 = await runTests(files, {
    ...process.env,
    PICRM_SECRETS_FILE: secretsFile,
    PICRM_URL: url,
    PICRM_PASSWORD: PASSWORD,
    PICRM_TLS_CERT: tls.cert,
    PICRM_TLS_KEY: tls.key,
    PICRM_CHROMIUM: process.env.PICRM_CHROMIUM || '/usr/bin/chromium',
  });
  const code = code0 || secretsInLogs(secretsFile);
  if (code !== 0) {
    log(`tests failed (exit code ${code})`);
    printServerLog();
  }
  return code;
}

// secretsInLogs: 1 when a secret a test configured appears in the server's
// output or in its log database (pb_data/auxiliary.db, PocketBase's _logs).
function secretsInLogs(file) {
  if (!existsSync(file)) return 0;
  const secrets = [...new Set(readFileSync(file, 'utf8').split('\n').filter((s) => s.length >= 8))];
  const output = existsSync(join(dataDir, 'server-output.log')) ? readFileSync(join(dataDir, 'server-output.log'), 'latin1') : '';
  const aux = join(dataDir, 'auxiliary.db');
  const logs = existsSync(aux) ? readFileSync(aux, 'latin1') : '';
  let found = 0;
  for (const s of secrets) {
    if (output.includes(s)) { log(`a configured secret (${s.slice(0, 4)}…) is in the server's output`); found = 1; }
    if (logs.includes(s)) { log(`a configured secret (${s.slice(0, 4)}…) is in the server's log database`); found = 1; }
  }
  log(`${secrets.length} configured secret(s) looked for in the server's output and log database: ${found ? 'FOUND' : 'none found'}`);
  return found;
}

// Interrupted (Ctrl-C, CI timeout): stop the tests and the server, remove the dir.
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]]) {
  process.once(sig, async () => {
    log(`${sig}: stopping`);
    testChild?.kill(sig);
    await cleanup();
    process.exit(128 + n);
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  log(err.stack || err.message);
  printServerLog();
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
