/**
 * The one place diagnostics leave the process. Lines go to stderr (stdout belongs to command output).
 * Nothing secret is ever passed here; tests run with canary secrets and grep what this writes.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const levelFromEnv = (): LogLevel => ((process.env.ARKEO_SIGNER_LOG as LogLevel) in ORDER ? (process.env.ARKEO_SIGNER_LOG as LogLevel) : 'warn');
let threshold: LogLevel = levelFromEnv();
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/**
 * Back to $ARKEO_SIGNER_LOG's level. A program started from a startup snapshot (src/cli/snapshot-main.ts) runs
 * this module as it was loaded on the machine and in the environment that built the snapshot.
 */
export function setLogLevelFromEnv(): void {
  threshold = levelFromEnv();
}

/** Route log lines elsewhere (the daemon uses JSON lines; tests capture them). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

export function log(level: LogLevel, message: string): void {
  if (ORDER[level] < ORDER[threshold]) return;
  sink(level === 'warn' ? `WARNING: ${message}` : level === 'error' ? `ERROR: ${message}` : message);
}
