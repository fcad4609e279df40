import t from 'tap';
import { backoff, BackoffOptionError } from '../../core/backoff.js';

t.test('without jitter the delay doubles from baseMs and stops at maxMs', async (t) => {
  const o = { baseMs: 100, maxMs: 1_000 };
  t.same([0, 1, 2, 3, 4, 5].map((a) => backoff(a, o)), [100, 200, 400, 800, 1_000, 1_000]);
  t.equal(backoff(5000, o), 1_000, 'a huge attempt number is still capped (no Infinity or NaN)');
  t.equal(backoff(5000, { baseMs: 0, maxMs: 10 }), 0, 'a zero base stays zero');
});

t.test('full jitter spreads over [0, delay]', async (t) => {
  t.equal(backoff(2, { baseMs: 100, maxMs: 1_000, jitter: 'full', random: () => 0 }), 0);
  t.equal(backoff(2, { baseMs: 100, maxMs: 1_000, jitter: 'full', random: () => 0.5 }), 200);
  for (let i = 0; i < 100; i++) {
    const d = backoff(3, { baseMs: 100, maxMs: 1_000, jitter: 'full' });
    if (d < 0 || d > 800) t.fail(`out of range: ${d}`);
  }
});

t.test('equal jitter stays within [delay/2, delay]', async (t) => {
  t.equal(backoff(2, { baseMs: 100, maxMs: 1_000, jitter: 'equal', random: () => 0 }), 200);
  t.equal(backoff(2, { baseMs: 100, maxMs: 1_000, jitter: 'equal', random: () => 0.999 }), 200 + 0.999 * 200);
  t.equal(backoff(9, { baseMs: 100, maxMs: 1_000, jitter: 'equal', random: () => 0 }), 500, 'capped before jitter');
});

t.test('a bad attempt or bound is refused naming it', async (t) => {
  t.throws(() => backoff(-1, { baseMs: 1, maxMs: 2 }), BackoffOptionError);
  t.throws(() => backoff(1.5, { baseMs: 1, maxMs: 2 }), /attempt: 1.5 is invalid/);
  t.throws(() => backoff(0, { baseMs: Number.NaN, maxMs: 2 }), /baseMs NaN/);
});
