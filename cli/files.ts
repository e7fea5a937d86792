// Files at the edge: the readers of JSON inputs (run records, prices, calibration profiles, plans)
// and the one way every command writes an output (checked before the work starts, written
// atomically, never overwriting silently). Errors name the file. The planner only parses values.

import { closeSync, existsSync, openSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { defaultGraphChallengeDir } from '../model/graphchallenge.ts';
import { FileAccessError, PlanFormatError, UsageError, fileAccessError, fileErrorReason } from '../model/errors.ts';
import { parseJsonText } from '../model/json.ts';
import { readDataFile } from '../model/read-file.ts';
import { defaultPrices, parsePriceOverride, type PriceTable } from '../planner/cost/prices.ts';
import { parseRunRecords, type RunRecord } from '../planner/cost/record.ts';
import { parseCalibrationProfile, type CalibrationProfile } from '../planner/latency/profile.ts';
import { parseAnyPlan, parsePlan, parsePlanReport, parseStagesPlan, planReportPath, type AnyPlan, type Plan, type PlanReport, type StagesPlan } from '../planner/plan/index.ts';

export { fileAccessError } from '../model/errors.ts';

/** Parsed JSON of `file`; `missing` says what the file is, for the not-found error. */
export function readJsonFile(file: string, missing: string): unknown {
  return parseJsonText(readDataFile(file, missing).toString('utf8'), file);
}

/** A plan.json read and validated; a missing or bad file fails naming it. */
export function readPlanFile(file: string): Plan {
  return parsePlan(readJsonFile(file, 'plan file not found'), file);
}

/** A dense model's stages plan (planner/plan/stages-schema.ts), read and validated. */
export function readStagesPlanFile(file: string): StagesPlan {
  return parseStagesPlan(readJsonFile(file, 'plan file not found'), file);
}

/** A plan file of either kind, read and validated (parseAnyPlan dispatches on `kind`). */
export function readAnyPlanFile(file: string): AnyPlan {
  return parseAnyPlan(readJsonFile(file, 'plan file not found'), file);
}

/** The report beside a plan file (plan.report.json), which must be of the same plan; a missing one fails naming it. */
export function readPlanReportOf(plan: Plan, planFile: string): PlanReport {
  const reportFile = planReportPath(planFile);
  const report = parsePlanReport(readJsonFile(reportFile, `the plan's report is missing (stepinfer plan writes it beside ${planFile})`), reportFile);
  if (report.planId !== plan.planId) {
    throw new PlanFormatError(`belongs to plan ${report.planId}, not to ${planFile} (plan ${plan.planId}): re-run stepinfer plan`, { file: reportFile, field: 'planId' });
  }
  return report;
}

export interface OutputCheck {
  /** Replace an existing file (a command's --force). */
  readonly overwrite?: boolean;
  /** The option that named the file, for messages (e.g. "--out"). */
  readonly option?: string;
}

/**
 * Checks, before any work starts, that `file` can be written: its folder exists and is writable,
 * `file` is not a folder, and it does not exist yet unless `overwrite`. Returns the absolute path.
 */
export function checkOutputPath(file: string, check: OutputCheck = {}): string {
  const path = resolve(file);
  const folder = dirname(path);
  if (!existsSync(folder)) throw new FileAccessError(`the folder ${folder} does not exist`, { file });
  if (!statSync(folder).isDirectory()) throw new FileAccessError(`${folder} is not a folder`, { file });
  // access(W_OK) says yes to root everywhere, even in /proc or on a read-only mount: create and
  // remove a probe file instead, which is what the real write will do.
  const probe = join(folder, `.${basename(path)}.${process.pid}.probe`);
  try {
    closeSync(openSync(probe, 'wx'));
    rmSync(probe);
  } catch (error) {
    throw new FileAccessError(`cannot create files in ${folder} (${fileErrorReason(error)})`, { file });
  }
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new FileAccessError('is a folder, a file was expected', { file });
    if (!check.overwrite) {
      throw new UsageError(`already exists; pass --force to replace it${check.option ? ` or choose another ${check.option}` : ''}`, { file });
    }
  }
  return path;
}

/** Writes `data` to `file` atomically (a temporary file beside it, then a rename): a failed write leaves nothing behind. */
export function writeOutputFile(file: string, data: string | Uint8Array): void {
  try {
    writeFileAtomic.sync(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (error) {
    throw fileAccessError(error, file);
  }
}

/**
 * Writes several outputs of one command, each atomically; if one fails, the files this call
 * created are removed again, so a failed command leaves no partial set behind. (A file replaced
 * with --force cannot be restored; checkOutputPath before the work makes that failure unlikely.)
 */
export function writeOutputFiles(outputs: readonly { readonly file: string; readonly data: string | Uint8Array }[]): void {
  const created: string[] = [];
  try {
    for (const { file, data } of outputs) {
      const existed = existsSync(file);
      writeOutputFile(file, data);
      if (!existed) created.push(file);
    }
  } catch (error) {
    for (const file of created) rmSync(file, { force: true });
    throw error;
  }
}

/** A price override file applied to the defaults (or to `base`). */
export function readPriceFile(file: string, base: PriceTable = defaultPrices()): PriceTable {
  return parsePriceOverride(readJsonFile(file, 'price file not found'), file, base);
}

/** One run record or an array of them (the FSD-Inference record format). */
export function readRunRecords(file: string): RunRecord[] {
  return parseRunRecords(readJsonFile(file, 'run record file not found'), file);
}

export function readCalibrationProfile(file: string): CalibrationProfile {
  return parseCalibrationProfile(readJsonFile(file, 'calibration profile not found (run stepinfer calibrate --out <file>)'), file);
}

/** FSD-Inference's published runs (shared data beside the GraphChallenge data; $STEPINFER_DATA moves both). */
export function defaultFsdRunsFile(): string {
  return resolve(defaultGraphChallengeDir(), '..', 'fsd-inference', 'runs-1024n-8w.json');
}
