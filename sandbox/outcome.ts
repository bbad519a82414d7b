/**
 * A guest's outcome as the host's: logs tagged with their invocation, the result's exact UTF-8 size
 * checked against limits.maxResultBytes (the guest checks only a lower bound). Pure: used in the
 * sandbox process for single invocations and in the runtime for series, whose outcomes cross the
 * pipe as the guest's own JSON.
 */
import type { ErrorData } from '../core/errors.ts';
import type { LogEntry } from '../scheduler/ports.ts';
import type { GuestOutcome } from './guest/bootstrap.ts';

export type InstanceOutcome =
  | { ok: true; resultJson: string; logs: LogEntry[] }
  | { ok: false; error: ErrorData; logs: LogEntry[]; lost: boolean };

export function toOutcome(invocationId: string, [status, payload, logsJson]: GuestOutcome, maxResultBytes: number): InstanceOutcome {
  const logs = toLogEntries(invocationId, logsJson);
  if (status === 'err') return { ok: false, error: JSON.parse(payload) as ErrorData, logs, lost: false };
  const bytes = Buffer.byteLength(payload);
  if (bytes > maxResultBytes) {
    return { ok: false, error: { code: 'FAAS_RESULT_TOO_LARGE', message: `result is ${bytes} bytes; limits.maxResultBytes is ${maxResultBytes}` }, logs, lost: false };
  }
  return { ok: true, resultJson: payload, logs };
}

function toLogEntries(invocationId: string, logsJson: string): LogEntry[] {
  if (logsJson === '[]') return [];
  const lines = JSON.parse(logsJson) as [number, LogEntry['level'], string][];
  return lines.map(([ts, level, message]) => ({ ts, invocationId, level, message }));
}
