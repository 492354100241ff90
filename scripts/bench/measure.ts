/**
 * What the benchmark helpers measure about their own process: CPU seconds (user + sys, all threads, from
 * /proc/self/stat) and peak RSS (VmHWM from /proc/self/status). Linux only.
 *
 * @module
 */

/** One timed section, printed as a JSON line for scripts/bench/run.py. */
export interface Measurement {
  /** Wall seconds of the timed section. */
  seconds: number;
  /** CPU seconds (user + sys) of the timed section. */
  cpuSeconds: number;
  /** Peak RSS of the whole process so far, MB. */
  peakRssMb: number;
  /** Rows handled. */
  rows: number;
  /** Bytes handled (file bytes for a read loop, vector + id bytes otherwise). */
  bytes: number;
}

/** CPU seconds (user + sys) of this process so far, all threads. */
export function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): utime is field 14, stime field 15, in USER_HZ (100 on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set of this process so far, MB. */
export function peakRssMb(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Value of `--name` in the command line, or `fallback`. */
export function flag(name: string, fallback?: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < Deno.args.length) return Deno.args[i + 1];
  if (fallback === undefined) throw new Error(`Missing --${name}`);
  return fallback;
}
