// Empties ../pb_public before a build, keeping its tracked dotfiles
// (.placeholder.html, served by a binary built before the UI was).
import { readdirSync, rmSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'pb_public');
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) {
  if (!name.startsWith('.')) rmSync(join(out, name), { recursive: true, force: true });
}
