/**
 * The servers a bench run measures against: the PostgreSQL and Redis that DATABASE_URL and
 * REDIS_URL name, or, without them, throwaway ones started from the installed binaries as
 * `npm test` does (test/harness/), so `npm run bench` needs no set-up on a node boot.sh made.
 * The URLs are put into process.env for the benches; `stop()` removes what was started.
 */
import { postgresBinDir, testPath } from '../test/harness/preflight.js';
import { startThrowawayPostgres } from '../test/harness/throwawayPostgres.js';
import { startThrowawayRedis } from '../test/harness/throwawayRedis.js';

export interface BenchServers {
  /** One line for the log: what is used, and where. */
  summary: string;
  stop(): Promise<void>;
}

export async function benchServers(): Promise<BenchServers> {
  const stops: Array<() => Promise<void>> = [];
  const used: string[] = [];
  if (process.env.DATABASE_URL) used.push('PostgreSQL at DATABASE_URL');
  else {
    const binDir = postgresBinDir(testPath(process.env.PATH));
    if (!binDir) throw new Error('no PostgreSQL server binaries (initdb) to start a throwaway cluster: apt-get install postgresql, or set DATABASE_URL');
    const pg = await startThrowawayPostgres(binDir);
    stops.push(pg.stop);
    process.env.DATABASE_URL = pg.url;
    used.push(`a throwaway PostgreSQL ${pg.version} on port ${pg.port}`);
  }
  if (process.env.REDIS_URL) used.push('Redis at REDIS_URL');
  else {
    const redis = await startThrowawayRedis();
    stops.push(redis.stop);
    process.env.REDIS_URL = redis.url;
    used.push(`a throwaway Redis on port ${redis.port}`);
  }
  return {
    summary: used.join(' and '),
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
