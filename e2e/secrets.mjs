// configured registers a secret a test gives the server (a provider's key,
// token, password): run.mjs looks for each in the server's output and log
// database after the suite, and fails it if one is there.
import { appendFileSync } from 'node:fs';

export function configured(...secrets) {
  const file = process.env.PICRM_SECRETS_FILE;
  if (!file) return;
  for (const s of secrets) appendFileSync(file, s + '\n');
}
