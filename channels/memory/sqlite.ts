/**
 * A thin synchronous wrapper over one sql.js in-memory database: loads the sql.js module once
 * per process, caches prepared statements by their SQL, runs multi-statement changes in a
 * transaction, and refuses every call once closed (ChannelError 'transport is closed').
 *
 * Everything here is synchronous, so a method of the transport that does its reads and writes
 * without awaiting in between is atomic with respect to every other call in the process.
 */
import type { BindParams, Database, SqlJsStatic, SqlValue, Statement } from 'sql.js';
import { ChannelError } from '../errors.js';
import { parseStreamId, type StreamId } from '../streamId.js';

export type Row = Record<string, SqlValue>;

let sqlJs: Promise<SqlJsStatic> | null = null;

/** The sql.js module, compiled once per process. */
export function loadSqlJs(): Promise<SqlJsStatic> {
  // Imported on first use: processes that only use Redis channels never pay for sql.js.
  sqlJs ??= import('sql.js').then(({ default: initSqlJs }) => initSqlJs()).catch((err: unknown) => {
    sqlJs = null; // let a later call try again
    throw err;
  });
  return sqlJs;
}

export class Sqlite {
  private readonly statements = new Map<string, Statement>();
  private closed = false;

  constructor(private readonly db: Database) {}

  static async open(schema: string): Promise<Sqlite> {
    const { Database } = await loadSqlJs();
    const db = new Database();
    db.exec(schema);
    return new Sqlite(db);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Throws the error every call on a closed transport gets; returns this for chaining. */
  check(channel: string): this {
    if (this.closed) throw new ChannelError(channel, 'transport is closed');
    return this;
  }

  all<T extends object = Row>(sql: string, params: BindParams): T[] {
    const st = this.prepare(sql);
    try {
      st.bind(params);
      const rows: T[] = [];
      while (st.step()) rows.push(st.getAsObject() as T);
      return rows;
    } finally {
      st.reset();
    }
  }

  get<T extends object = Row>(sql: string, params: BindParams): T | undefined {
    return this.all<T>(sql, params)[0];
  }

  /** Runs a changing statement; returns the number of rows it changed. */
  run(sql: string, params: BindParams): number {
    this.prepare(sql).run(params);
    return this.db.getRowsModified();
  }

  transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    this.db.close(); // frees the prepared statements too
  }

  private prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }
}

export function formatId(ms: number, seq: number): string {
  return `${ms}-${seq}`;
}

/** Parses an entry id given by a caller; a malformed one is a ChannelError naming it. */
export function toStreamId(channel: string, id: string): StreamId {
  try {
    return parseStreamId(id);
  } catch {
    throw new ChannelError(channel, `'${id}' is not a stream id (expected <ms>-<seq>, e.g. 1700000000000-0)`);
  }
}
