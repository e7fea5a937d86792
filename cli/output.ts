// How every command reports: human text on stdout, or one JSON document with --json; progress
// on stderr (only when it is a terminal or --progress is given), so stdout stays parseable.

import { SingleBar, Presets } from 'cli-progress';

export interface OutputOptions {
  readonly json?: boolean;
  readonly progress?: boolean;
}

/** Prints `value` as JSON, or the human rendering of it. */
export function report<T>(options: OutputOptions, value: T, human: (value: T) => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human(value)}\n`);
}

export interface Progress {
  tick(done: number, total: number, note?: string): void;
  stop(): void;
}

const silent: Progress = { tick() {}, stop() {} };

/** A progress bar on stderr, or nothing when stderr is not a terminal and --progress was not given. */
export function progressBar(label: string, options: OutputOptions): Progress {
  if (!(options.progress ?? process.stderr.isTTY)) return silent;
  const bar = new SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {value}/{total} {note}`, hideCursor: true, noTTYOutput: true, notTTYSchedule: 1000 },
    Presets.shades_classic,
  );
  let started = false;
  return {
    tick(done, total, note = '') {
      if (!started) { bar.start(total, 0, { note }); started = true; }
      bar.setTotal(total);
      bar.update(done, { note });
    },
    stop() { if (started) bar.stop(); },
  };
}

/** Formats rows as an aligned text table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  return cells.map((r) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join('  ')).join('\n');
}
