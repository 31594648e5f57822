import { describe, expect, it } from 'vitest';
import { findTemporalCli, TemporalCliNotFoundError } from '../../src/temporal/dev-server.js';

describe('findTemporalCli', () => {
  it('fails with instructions when TEMPORAL_CLI_PATH is not an executable', async () => {
    const attempt = findTemporalCli({ cliPath: '/nonexistent/temporal' });
    await expect(attempt).rejects.toBeInstanceOf(TemporalCliNotFoundError);
    await expect(attempt).rejects.toThrow(/TEMPORAL_CLI_PATH=\/nonexistent\/temporal/);
    await expect(attempt).rejects.toThrow(/npm run temporal:install/);
  });
});
