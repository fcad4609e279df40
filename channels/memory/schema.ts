/**
 * The SQL of the in-memory transport: the tables that model Redis Streams consumer groups
 * (entries, groups, declared consumer groups, pending-entries lists, dead letters) and the statements run against them.
 *
 * Entry ids `<ms>-<seq>` are stored as two integer columns, so ordering and comparison are
 * integer comparisons on the primary key (row values `(ms, seq) > (?, ?)` use the index). Group
 * positions are stored the same way: they may name an id that is not (or no longer) an entry.
 */

export const SCHEMA = `
CREATE TABLE entries (
  channel TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  fields TEXT NOT NULL,
  PRIMARY KEY (channel, ms, seq)
) WITHOUT ROWID;
CREATE TABLE groups (
  channel TEXT NOT NULL, name TEXT NOT NULL,
  last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  PRIMARY KEY (channel, name)
) WITHOUT ROWID;
CREATE TABLE declared_groups (
  channel TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY (channel, name)
) WITHOUT ROWID;
CREATE TABLE pending (
  channel TEXT NOT NULL, grp TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  consumer TEXT NOT NULL, delivered_at INTEGER NOT NULL, deliveries INTEGER NOT NULL,
  PRIMARY KEY (channel, grp, ms, seq)
) WITHOUT ROWID;
CREATE TABLE dead_letters (
  channel TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  original_id TEXT NOT NULL, grp TEXT NOT NULL, consumer TEXT NOT NULL,
  deliveries INTEGER NOT NULL, error TEXT NOT NULL, fields TEXT NOT NULL,
  PRIMARY KEY (channel, ms, seq)
) WITHOUT ROWID;
`;

export const SQL = {
  insertEntry: 'INSERT INTO entries (channel, ms, seq, fields) VALUES (?, ?, ?, ?)',
  countEntries: 'SELECT COUNT(*) AS n FROM entries WHERE channel = ?',
  entryFields: 'SELECT fields FROM entries WHERE channel = ? AND ms = ? AND seq = ?',
  entriesAfter: 'SELECT ms, seq, fields FROM entries WHERE channel = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?',
  deleteEntry: 'DELETE FROM entries WHERE channel = ? AND ms = ? AND seq = ?',
  deleteEntriesBelow: 'DELETE FROM entries WHERE channel = ? AND (ms, seq) < (?, ?)',
  nthNewest: 'SELECT ms, seq FROM entries WHERE channel = ? ORDER BY ms DESC, seq DESC LIMIT 1 OFFSET ?',

  insertGroup: 'INSERT OR IGNORE INTO groups (channel, name, last_ms, last_seq) VALUES (?, ?, ?, ?)',
  group: 'SELECT last_ms, last_seq FROM groups WHERE channel = ? AND name = ?',
  moveGroup: 'UPDATE groups SET last_ms = ?, last_seq = ? WHERE channel = ? AND name = ?',
  groupStates: `
    SELECT g.name AS name, g.last_ms AS last_ms, g.last_seq AS last_seq,
      (SELECT COUNT(*) FROM pending p WHERE p.channel = g.channel AND p.grp = g.name) AS pending,
      (SELECT COUNT(*) FROM entries e WHERE e.channel = g.channel AND (e.ms, e.seq) > (g.last_ms, g.last_seq)) AS lag
    FROM groups g WHERE g.channel = ? ORDER BY g.name`,

  declareGroup: 'INSERT OR IGNORE INTO declared_groups (channel, name) VALUES (?, ?)',
  undeclareGroup: 'DELETE FROM declared_groups WHERE channel = ? AND name = ?',
  declaredGroups: 'SELECT name FROM declared_groups WHERE channel = ? ORDER BY name',
  missingDeclaredGroups: `SELECT COUNT(*) AS n FROM declared_groups d
    WHERE d.channel = ? AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.channel = d.channel AND g.name = d.name)`,
  readerCount: `SELECT (SELECT COUNT(*) FROM declared_groups WHERE channel = ?1) + (SELECT COUNT(*) FROM groups WHERE channel = ?1) AS n`,

  insertPending: `INSERT OR REPLACE INTO pending (channel, grp, ms, seq, consumer, delivered_at, deliveries)
    VALUES (?, ?, ?, ?, ?, ?, 1)`,
  pendingIdle: `SELECT ms, seq, consumer, delivered_at, deliveries FROM pending
    WHERE channel = ? AND grp = ? AND delivered_at <= ? AND (? IS NULL OR consumer = ?)
    ORDER BY ms, seq LIMIT ?`,
  pendingOne: 'SELECT delivered_at FROM pending WHERE channel = ? AND grp = ? AND ms = ? AND seq = ?',
  oldestPending: 'SELECT ms, seq FROM pending WHERE channel = ? AND grp = ? ORDER BY ms, seq LIMIT 1',
  claimPending: `UPDATE pending SET consumer = ?, delivered_at = ?, deliveries = deliveries + 1
    WHERE channel = ? AND grp = ? AND ms = ? AND seq = ?`,
  touchPending: `UPDATE pending SET delivered_at = ?
    WHERE channel = ? AND grp = ? AND ms = ? AND seq = ? AND consumer = ?`,
  deletePending: 'DELETE FROM pending WHERE channel = ? AND grp = ? AND ms = ? AND seq = ?',

  insertDeadLetter: `INSERT INTO dead_letters (channel, ms, seq, original_id, grp, consumer, deliveries, error, fields)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  newestDeadLetters: `SELECT ms, seq, original_id, grp, consumer, deliveries, error, fields FROM dead_letters
    WHERE channel = ? ORDER BY ms DESC, seq DESC LIMIT ?`,
  deadLettersAfter: `SELECT ms, seq, original_id, grp, consumer, deliveries, error, fields FROM dead_letters
    WHERE channel = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?`,
  deadLetter: `SELECT ms, seq, original_id, grp, consumer, deliveries, error, fields FROM dead_letters
    WHERE channel = ? AND ms = ? AND seq = ?`,
  countDeadLetters: 'SELECT COUNT(*) AS n FROM dead_letters WHERE channel = ?',
  deleteDeadLetter: 'DELETE FROM dead_letters WHERE channel = ? AND ms = ? AND seq = ?',
} as const;
