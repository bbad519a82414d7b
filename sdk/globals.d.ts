/**
 * The globals a sandbox provides besides the ECMAScript built-ins (see sandbox/guest/bootstrap.ts).
 * Timers are bounded: they fire only while the invocation that set them runs, and never past its
 * deadline. There is no process, require, fs, network, setInterval or setImmediate.
 */
declare function setTimeout(callback: (...args: never[]) => void, ms?: number, ...args: unknown[]): number;
declare function clearTimeout(id: number | undefined): void;
declare function queueMicrotask(callback: () => void): void;
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  trace(...args: unknown[]): void;
};
