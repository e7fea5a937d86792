// Writes planner/plan/plan.schema.json, plan.json's JSON Schema exported from its zod schema, for
// editors ("$schema" in a plan, or a JSON-schema setting). test/plan/plan-contract.test.ts checks
// that the committed file is current. Run: npm run build:plan-schema
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PLAN_JSON_SCHEMA_FILE, planJsonSchemaText } from '../planner/plan/json-schema.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const file = resolve(repo, PLAN_JSON_SCHEMA_FILE);
writeFileSync(file, planJsonSchemaText());
process.stdout.write(`wrote ${file}\n`);
