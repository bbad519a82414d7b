/**
 * Tick computation for cron schedules in an IANA time zone, as a pure function of (expression, zone,
 * instant): every node of a cluster computes the same epoch-ms instants, which key the tick fences.
 *
 * node-cron parses and validates the expression (5 or 6 fields, names, ranges, steps, L/W/#
 * tokens, nicknames); the walk to the next instant is ours so it runs on any clock (node-cron's own
 * scheduler reads the wall clock and real timers). Day-of-month and day-of-week are ANDed, as
 * node-cron does.
 *
 * Daylight-saving changes follow Vixie cron / cronie:
 * - a schedule with fixed hours ("0 30 2 * * *") fires once per local day: a local time skipped by
 *   spring-forward fires shifted forward by the gap (02:30 → 03:30 new time); a repeated local time
 *   at fall-back fires on its first occurrence only;
 * - a schedule whose hour field is every hour ("0 0/15 * * * *") follows elapsed time: skipped local
 *   times do not exist, repeated ones fire on both occurrences.
 */
import { validateDetailed, type ParsedFields } from 'node-cron';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export class CronScheduleError extends Error {
  /** 'schedule' or 'timezone': the manifest field at fault. */
  readonly field: 'schedule' | 'timezone';

  constructor(field: 'schedule' | 'timezone', message: string) {
    super(message);
    this.name = 'CronScheduleError';
    this.field = field;
  }
}

interface DayTransition {
  /** UTC offsets (ms) before and after; equal when the local day has no transition. */
  before: number;
  after: number;
  /** First instant with the `after` offset. */
  at: number;
}

export class CronSchedule {
  readonly expression: string;
  readonly timezone: string;
  private readonly fields: ParsedFields;
  private readonly seconds: number[];
  private readonly minutes: number[];
  private readonly hours: number[];
  private readonly months: Set<number>;
  /** Hour field is every hour: follow elapsed time across DST changes. */
  private readonly everyHour: boolean;
  private readonly formatter: Intl.DateTimeFormat;
  /** Recent local days' transitions (each costs a few Intl calls; ticks mostly fall on the same days). */
  private readonly transitions = new Map<number, DayTransition>();

  /** Throws CronScheduleError naming the field at fault. */
  constructor(expression: string, timezone: string) {
    this.expression = expression;
    this.timezone = timezone;
    try {
      this.formatter = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new CronScheduleError('timezone', `"${timezone}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin", "America/New_York")`);
    }
    const checked = validateDetailed(expression.trim());
    if (!checked.valid || checked.fields === undefined) {
      const detail = checked.errors.map((e) => (e.field === 'expression' ? e.message : `${e.field}: ${e.message}`)).join('; ');
      throw new CronScheduleError(
        'schedule',
        `"${expression}" is not a valid cron expression (${detail}); use 5 fields "minute hour day-of-month month day-of-week" or 6 with seconds first`,
      );
    }
    this.fields = checked.fields;
    this.seconds = [...new Set(this.fields.second)].sort((a, b) => a - b);
    this.minutes = [...new Set(this.fields.minute)].sort((a, b) => a - b);
    this.hours = [...new Set(this.fields.hour)].sort((a, b) => a - b);
    this.months = new Set(this.fields.month);
    this.everyHour = this.hours.length === 24;
  }

  /** The first tick strictly after `afterMs` (epoch ms); ticks fall on whole seconds. */
  next(afterMs: number): number {
    const base = this.localParts(afterMs);
    let day = Date.UTC(base.year, base.month - 1, base.day);
    // Earlier local day too: a UTC instant can belong to the previous local date's repeated hour.
    day -= DAY_MS;
    for (let i = 0; i < 366 * 8 + 2; i++, day += DAY_MS) {
      if (!this.matchesDay(day)) continue;
      const found = this.firstOnDay(day, afterMs);
      if (found !== undefined) return found;
    }
    throw new CronScheduleError('schedule', `"${this.expression}" never fires`);
  }

  /** The next `count` ticks after `afterMs`. */
  nextRuns(afterMs: number, count: number): number[] {
    const out: number[] = [];
    let t = afterMs;
    for (let i = 0; i < count; i++) out.push((t = this.next(t)));
    return out;
  }

  /** The latest tick at or before `atMs` and after `atMs - lookbackMs`, if any. */
  previous(atMs: number, lookbackMs: number): number | undefined {
    const floor = atMs - lookbackMs;
    // Widen the window geometrically until it holds a tick, then walk forward to the last one.
    for (let window = 1000; ; window = Math.min(window * 4, lookbackMs)) {
      const from = Math.max(floor, atMs - window);
      let t = this.next(from - 1);
      if (t <= atMs) {
        for (let n = this.next(t); n <= atMs; n = this.next(n)) t = n;
        return t;
      }
      if (from <= floor) return undefined;
    }
  }

  /**
   * Ticks in (fromMs, toMs], oldest first, at most `cap` of them (the newest); `more` counts the
   * older ones. A span of far more than `cap` ticks (a week-long pause of a per-second schedule) is
   * not walked: the skipped part is estimated from the period at its start.
   */
  between(fromMs: number, toMs: number, cap: number): { ticks: number[]; more: number } {
    const ticks: number[] = [];
    let more = 0;
    let from = fromMs;
    const first = this.next(from);
    if (first > toMs) return { ticks, more };
    const period = Math.max(1000, this.next(first) - first);
    if ((toMs - from) / period > 20 * cap) {
      const skipTo = toMs - 4 * cap * period;
      more += Math.round((skipTo - from) / period);
      from = skipTo;
    }
    for (let t = this.next(from); t <= toMs; t = this.next(t)) {
      ticks.push(t);
      if (ticks.length >= 2 * cap) {
        more += ticks.length - cap;
        ticks.splice(0, ticks.length - cap);
      }
    }
    if (ticks.length > cap) {
      more += ticks.length - cap;
      ticks.splice(0, ticks.length - cap);
    }
    return { ticks, more };
  }

  /** ISO 8601 with the zone's offset, e.g. 2025-03-30T03:30:00+02:00. */
  format(ms: number): string {
    const p = this.localParts(ms);
    const offsetMin = Math.round((Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000) / 60_000);
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    const zone = offsetMin === 0 ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
    return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${zone}`;
  }

  /** Local-day candidates (wall times as UTC ms), mapped to instants; the least one after `afterMs`. */
  private firstOnDay(dayUtc: number, afterMs: number): number | undefined {
    const tr = this.transition(dayUtc);
    const steady = tr.before === tr.after;
    const minOffset = Math.min(tr.before, tr.after);
    const maxOffset = Math.max(tr.before, tr.after);
    let best: number | undefined;
    for (const h of this.hours) {
      const hourWall = dayUtc + h * HOUR_MS;
      // Every instant of this hour or a later one is ≥ wall − maxOffset: none can beat `best`.
      if (best !== undefined && hourWall - maxOffset > best) return best;
      if (hourWall + HOUR_MS - 1000 - minOffset <= afterMs) continue;
      for (const m of this.minutes) {
        const minuteWall = hourWall + m * 60_000;
        if (minuteWall + 59_000 - minOffset <= afterMs) continue;
        for (const s of this.seconds) {
          const wall = minuteWall + s * 1000;
          if (steady) {
            const t = wall - tr.before;
            if (t > afterMs) return t;
            continue;
          }
          for (const t of this.instantsOf(wall, tr)) if (t > afterMs && (best === undefined || t < best)) best = t;
        }
      }
    }
    return best;
  }

  /** The instants a local wall time maps to on a transition day, per the DST rules above. */
  private instantsOf(wall: number, tr: DayTransition): number[] {
    const early = wall - tr.before;
    const late = wall - tr.after;
    const earlyValid = early < tr.at;
    const lateValid = late >= tr.at;
    if (earlyValid && lateValid) return this.everyHour ? [early, late] : [early]; // repeated (fall back)
    if (earlyValid) return [early];
    if (lateValid) return [late];
    return this.everyHour ? [] : [early]; // skipped (spring forward): shifted by the gap, or nothing
  }

  /** Offsets around one local day and the instant they change (at most one change assumed). */
  private transition(dayUtc: number): DayTransition {
    let tr = this.transitions.get(dayUtc);
    if (tr === undefined) {
      tr = this.computeTransition(dayUtc);
      if (this.transitions.size >= 8) this.transitions.delete(this.transitions.keys().next().value as number);
      this.transitions.set(dayUtc, tr);
    }
    return tr;
  }

  private computeTransition(dayUtc: number): DayTransition {
    // Instants of this local day lie within [day − 14 h, day + 1 d + 12 h] for any real offset.
    let lo = dayUtc - 15 * HOUR_MS;
    let hi = dayUtc + DAY_MS + 15 * HOUR_MS;
    const before = this.offset(lo);
    const after = this.offset(hi);
    if (before === after) return { before, after, at: hi };
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (this.offset(mid) === before) lo = mid;
      else hi = mid;
    }
    return { before, after, at: hi };
  }

  /** UTC offset of the zone at an instant, in ms (positive east of Greenwich). */
  private offset(ms: number): number {
    const p = this.localParts(ms);
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
  }

  private localParts(ms: number): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
    const out = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
    for (const part of this.formatter.formatToParts(new Date(ms))) {
      if (part.type in out) out[part.type as keyof typeof out] = Number(part.value);
    }
    return out;
  }

  private matchesDay(dayUtc: number): boolean {
    const d = new Date(dayUtc);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth() + 1;
    const day = d.getUTCDate();
    return this.months.has(month) && matchesDayOfMonth(this.fields.dayOfMonth, year, month, day) && matchesDayOfWeek(this.fields.dayOfWeek, year, month, day, d.getUTCDay());
  }
}

// Day tokens as node-cron defines them (L, LW, 15W, L-3 for days of the month; 5L, 1#2 for weekdays).

function lastDayOfMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOfMonth(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

function matchesDayOfMonth(field: (number | string)[], year: number, month: number, day: number): boolean {
  for (const value of field) {
    if (value === day) return true;
    if (typeof value !== 'string') continue;
    if (value === 'L' && day === lastDayOfMonth(year, month)) return true;
    const w = /^(\d{1,2}|L)W$/.exec(value);
    if (w && nearestWeekday(year, month, w[1] === 'L' ? lastDayOfMonth(year, month) : Number(w[1])) === day) return true;
    const back = /^L-(\d{1,2})$/.exec(value);
    if (back && lastDayOfMonth(year, month) - Number(back[1]) === day) return true;
  }
  return false;
}

function matchesDayOfWeek(field: (number | string)[], year: number, month: number, day: number, weekday: number): boolean {
  for (const value of field) {
    if (value === weekday) return true;
    if (typeof value !== 'string') continue;
    const nth = /^([0-7])#([1-5])$/.exec(value);
    if (nth) {
      if (Number(nth[1]) % 7 === weekday && Math.floor((day - 1) / 7) + 1 === Number(nth[2])) return true;
      continue;
    }
    const last = /^([0-7])L$/i.exec(value);
    if (last && Number(last[1]) % 7 === weekday && day + 7 > lastDayOfMonth(year, month)) return true;
  }
  return false;
}
