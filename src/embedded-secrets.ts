import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A per-machine secret kept in a file (under .data/ for the local commands), generated on first use, so tokens and
 * stored secrets survive restarts without anyone configuring one. Deleting the file makes whatever was protected
 * with it unreadable (like deleting .data/).
 */
export function embeddedSecret(file: string, generate: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = generate();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
