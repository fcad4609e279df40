/**
 * API tokens for tests, made through the real store (scheduler/store/apiTokens.ts) on a test's
 * database: the scheduler's migrations are applied first (api_tokens is theirs), then a token of
 * the role asked for is created. `bearer` makes the header tests send.
 */
import pg from 'pg';
import type { ApiRole } from '../../runtime/apiToken.js';
import { createApiToken } from '../../scheduler/store/apiTokens.js';
import { migrate } from '../../scheduler/store/migrate.js';

export async function testApiToken(databaseUrl: string, role: ApiRole = 'viewer', options: { expiresAt?: Date | null; name?: string } = {}): Promise<{ id: string; token: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await migrate(client);
    const { token, info } = await createApiToken(client, { role, name: options.name ?? `test ${role}`, expiresAt: options.expiresAt ?? null, actor: 'test' });
    return { id: info.id, token };
  } finally {
    await client.end();
  }
}

export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
