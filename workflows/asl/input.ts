// The input of a generated state machine: small, every field optional, so an execution started
// from the console with `{}` runs the plan's default inputs as planned. The run id is the
// execution's name ($$.Execution.Name). `inputs` says whose staged input rows the first stage
// reads: "default" (the plan's default inputs, the rows it was made with, staged once by
// `stepinfer shards upload` under storage.defaultInputs) or a run id whose rows `stepinfer start
// --inputs` staged under storage.inputs; everything else comes from the plan. The workflow's first
// states merge the given input over these defaults (render.ts); this schema is what a client checks
// before it starts an execution, and input.schema.json (its JSON Schema) what a console user reads.

import { z } from 'zod';
import { fromZodError } from '../../model/errors.ts';
import { DEFAULT_INPUTS } from '../../planner/plan/names.ts';
import type { Plan } from '../../planner/plan/schema.ts';
import { RUN_ID_PATTERN } from '../../functions/handlers/events.ts';

/** The defaults an empty input stands for. */
export function stateMachineInputDefaults(plan: Plan): { readonly inputs: string; readonly samples: number; readonly topScores: number } {
  return { inputs: DEFAULT_INPUTS, samples: plan.inputRows, topScores: 0 };
}

/** The input's zod schema for one plan (the bounds depend on it). */
export function stateMachineInputSchema(plan: Plan) {
  const defaults = stateMachineInputDefaults(plan);
  return z.object({
    inputs: z.string().regex(RUN_ID_PATTERN, 'a run id (1-80 letters, digits, - or _) or "default"').optional()
      .describe(`whose staged input rows to read (default "${defaults.inputs}": the plan's default inputs, the ${plan.inputRows} rows it was made with, `
        + `which stepinfer shards upload stages under ${plan.storage.defaultInputs}); else the run id whose own rows stepinfer start staged under ${plan.storage.inputs} (<execution>: that run id)`),
    samples: z.number().int().min(1).max(plan.inputRows).optional()
      .describe(`input rows in the staged inputs (default ${defaults.samples}: the default inputs' rows, and at most the rows the plan sized memory and timeouts for)`),
    topScores: z.number().int().min(0).max(plan.model.neurons).optional()
      .describe(`also return, for every input, its k highest final activations (default ${defaults.topScores}: categories only)`),
  }).strict();
}

export type StateMachineInput = z.infer<ReturnType<typeof stateMachineInputSchema>>;

/** An execution's input with its defaults applied; a bad input fails naming the field. */
export function parseStateMachineInput(value: unknown, plan: Plan, source = 'state machine input'): Required<StateMachineInput> {
  const parsed = stateMachineInputSchema(plan).safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, source);
  return { ...stateMachineInputDefaults(plan), ...parsed.data };
}

/** The input's JSON Schema (draft 2020-12). */
export function stateMachineInputJsonSchema(plan: Plan): Record<string, unknown> {
  const generated = z.toJSONSchema(stateMachineInputSchema(plan), { target: 'draft-2020-12' });
  return {
    ...generated,
    $id: `urn:stepinfer:state-machine-input:${plan.planId}`,
    title: `input of state machine ${plan.names.stateMachine}`,
    description: `Every field is optional: {} runs the plan's default inputs (staged once by stepinfer shards upload) as planned. The run id is the execution name. `
      + 'Other rows: stage them first (stepinfer start --inputs FILE --stage-only --run-id NAME), then give {"inputs": "NAME", "samples": <their rows>}.',
  };
}
