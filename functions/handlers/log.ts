// Structured JSON logs of the handlers: Powertools for AWS Lambda's Logger (what Lambda users
// expect: one JSON object a line, CloudWatch Logs Insights can query them), with the run, stage,
// worker and layer on every line. The level comes from POWERTOOLS_LOG_LEVEL (default INFO).

import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'stepinfer' });

/** Keys every following line carries, until the next invocation resets them. */
export function logRun(keys: { runId: string; attempt?: number; stage?: number; worker?: number; role: string }): void {
  logger.resetKeys();
  logger.appendKeys({ ...keys });
}
