// plan.json's zod schema as a JSON Schema (draft 2020-12), for editors and other tools. The
// committed planner/plan/plan.schema.json is this document (a test keeps it current; regenerate
// with `npm run build:plan-schema`). Cross-field checks (stages cover the layers, names derive
// from the plan id, ...) are beyond JSON Schema: only parsePlan runs them.

import { z } from 'zod';
import { PLAN_FORMAT_VERSION, planSchema } from './schema.ts';

export const PLAN_JSON_SCHEMA_FILE = 'planner/plan/plan.schema.json';

/** The JSON Schema of plan.json, as pretty-printed JSON text. */
export function planJsonSchemaText(): string {
  const generated = z.toJSONSchema(planSchema, { target: 'draft-2020-12' });
  const schema = {
    $schema: generated.$schema,
    $id: `urn:stepinfer:plan:v${PLAN_FORMAT_VERSION}`,
    title: 'stepinfer plan.json',
    description: 'The deployment contract written by stepinfer plan: workflows, handlers and the CDK stack are generated from it alone.',
    ...generated,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
