/**
 * The body of SqliteNonceStore's writer thread: a second connection to the same file that commits reservation
 * batches (BEGIN IMMEDIATE … COMMIT with synchronous=FULL), so the fsync blocks this thread, not the event loop
 * that serves requests. Batches are answered in the order they arrive.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase, reservationStatements, reserveBatch, type ReserveRequest, type SqliteNonceStoreOptions } from './sqlite.js';

const { file, options } = workerData as { file: string; options: SqliteNonceStoreOptions };
const db = openDatabase(file, options);
const stmts = reservationStatements(db);

parentPort!.on('message', (m: { id: number; batch?: ReserveRequest[]; durability?: true }) => {
  try {
    if (m.durability) parentPort!.postMessage({ id: m.id, durability: { synchronous: db.pragma('synchronous', { simple: true }), journal_mode: db.pragma('journal_mode', { simple: true }) } });
    else parentPort!.postMessage({ id: m.id, outcomes: m.batch!.length ? reserveBatch(db, stmts, m.batch!) : [] });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
