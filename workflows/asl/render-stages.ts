// The workflow of a stages plan (planner/plan/stages-schema.ts; AMPS-Inf's dense stages), rendered
// from the plan alone as a pure function: a chain of Task states, one per stage, each named after
// its layers ("Stage 1: layer2.1 .. layer3.5") and invoking that stage's own function
// (functions/handlers/dense-stage.ts). Stage 0 reads the batch the client staged under
// storage.inputs of the execution; each later stage reads the output the one before it returned
// (the Task's result at $.handoff): the tensor itself in the state payload when the plan says it
// fits, else a reference to its handoff object in S3. The last stage writes storage.result and the
// execution's output is that object's key, CRC-32 and dims.
//
// Every Task has its stage's TimeoutSeconds and the plan's Retry policy (render.ts retriersOf);
// any error is caught: "Clean up" (stage 0's function with `cleanup`) removes the run's staged
// input and handoffs, and "Run failed" ends the execution with the failed stage's error and cause.
// A stage is not run again as a unit (the sparse shapes do that because peers wait for each other;
// a dense stage is one function, and Lambda's transient errors are its Retry's).
//
// The execution input is `{}` (stagesInputJsonSchema): the run is the execution name, its input
// is what the client staged under that name. Function ARNs and the bucket are definition
// substitutions (substitutions.ts), so the same file deploys through CDK and runs locally.

import { z } from 'zod';
import { WorkflowDefinitionError } from '../../model/errors.ts';
import type { StagesPlan, StagesPlanStage } from '../../planner/plan/stages-schema.ts';
import type { DenseCleanupEvent, DenseStageEvent } from '../../functions/handlers/events.ts';
import type { PayloadTemplate, State, StateMachine, TaskState } from './asl.ts';
import { catchAll, retriersOf, type RenderedWorkflow } from './render.ts';
import { CLEAN_UP_STATE, RUN_FAILED_STATE } from './state-names.ts';
import { SubstitutionRegistry } from './substitutions.ts';
import { assertValidWorkflow } from './validate.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';

/** Where the rendered states keep their data, in the execution's state. */
const PATHS = {
  /** The previous stage's selected result: { output } (a DenseTensorRef). */
  handoff: '$.handoff',
  result: '$.result',
  failure: '$.failure',
  cleanupFailure: '$.cleanupFailure',
} as const;

/** A template's keys are the event's with `.$` where the value is read at run time. */
type Template<T> = { readonly [K in keyof T as K extends string ? K | `${K}.$` : never]?: PayloadTemplate[string] };

/** A stage's Task: "Stage 1: layer2.1 .. layer3.5", its name shortened with "…" to the 80 characters a state name may have. */
export function denseStageStateName(stage: Pick<StagesPlanStage, 'index' | 'name'>): string {
  const full = `Stage ${stage.index}: ${stage.name}`;
  const max = AWS_LIMITS.sfnStateNameMaxChars.value;
  const chars = [...full];
  return chars.length <= max ? full : `${chars.slice(0, max - 1).join('')}…`;
}

/** The dims a stage reads: the model's input for stage 0, else the previous stage's output. */
export function stageInputDims(plan: StagesPlan, index: number): number[] {
  return index === 0 ? [...plan.model.input.dims] : [...plan.workflow.stages[index - 1].output.dims];
}

/** What a stage's Task keeps of its result (DenseStageResult): the output reference the next stage reads. */
const HANDOFF_RESULT: PayloadTemplate = { 'output.$': '$.output' };
/** What the last stage's Task keeps: the result object, the execution's output. */
const RESULT_OUTPUT: PayloadTemplate = { 'resultKey.$': '$.output.key', 'crc32.$': '$.output.crc32', 'dims.$': '$.output.dims' };

const STAGE_DOES = "runs the stage's sub-model with onnxruntime: its input from S3 or the state, its output to the state or S3";

function renderStages(plan: StagesPlan): RenderedWorkflow {
  const subs = new SubstitutionRegistry(plan);
  const stages = plan.workflow.stages;
  const functionOf = (stage: StagesPlanStage) => {
    const f = plan.functions.find((x) => x.id === stage.functionId);
    if (!f) throw new WorkflowDefinitionError(`no function "${stage.functionId}" in the plan`, { field: 'functions' });
    return f;
  };
  const storage = { ...plan.storage };
  const states: Record<string, State> = {};

  stages.forEach((stage, i) => {
    const f = functionOf(stage);
    const last = i === stages.length - 1;
    const event: Template<DenseStageEvent> = {
      'runId.$': '$$.Execution.Name',
      planId: plan.planId,
      bucket: subs.bucket(),
      storage,
      stage: stage.index,
      stages: stages.length,
      name: stage.name,
      modelFile: f.package.modelFile,
      modelBytes: f.package.modelBytes,
      memoryMB: f.memoryMB,
      ...(i === 0 ? { input: { kind: 'staged' } } : { 'input.$': `${PATHS.handoff}.output` }),
      inputDims: stageInputDims(plan, i),
      output: { dims: [...stage.output.dims], handoff: stage.output.handoff },
    };
    const units = stage.firstUnit === stage.lastUnit ? `unit ${stage.firstUnit}` : `units ${stage.firstUnit}-${stage.lastUnit}`;
    const task: TaskState = {
      Type: 'Task',
      Comment: `${units} of ${plan.model.units} at ${f.memoryMB} MB; ${i === 0 ? 'reads the staged input' : `reads stage ${i - 1}'s output`}, ${last ? 'writes the result (S3)' : stage.output.handoff === 'payload' ? 'hands its output on in the state' : 'hands its output on through S3'}.`,
      Resource: subs.stageFunctionArn(stage.index, f.id, STAGE_DOES),
      Parameters: event,
      TimeoutSeconds: stage.task.timeoutSeconds,
      Retry: retriersOf(plan, stage.task.retry),
      Catch: catchAll(CLEAN_UP_STATE, PATHS.failure),
      ...(last
        ? { ResultSelector: RESULT_OUTPUT, ResultPath: PATHS.result, OutputPath: PATHS.result, End: true as const }
        : { ResultSelector: HANDOFF_RESULT, ResultPath: PATHS.handoff, Next: denseStageStateName(stages[i + 1]) }),
    };
    states[denseStageStateName(stage)] = task;
  });

  const first = stages[0];
  const cleanup: Template<DenseCleanupEvent> = { 'runId.$': '$$.Execution.Name', bucket: subs.bucket(), storage, stages: stages.length, cleanup: true };
  states[CLEAN_UP_STATE] = {
    Type: 'Task',
    Comment: "Deletes the failed run's staged input and handoff objects (stage 0's function); its own failure does not hide the run's cause.",
    Resource: subs.stageFunctionArn(first.index, first.functionId, STAGE_DOES),
    Parameters: cleanup,
    TimeoutSeconds: first.task.timeoutSeconds,
    Retry: retriersOf(plan, first.task.retry),
    Catch: catchAll(RUN_FAILED_STATE, PATHS.cleanupFailure),
    ResultPath: null,
    Next: RUN_FAILED_STATE,
  };
  states[RUN_FAILED_STATE] = {
    Type: 'Fail',
    Comment: 'The error and cause of the stage that failed.',
    ErrorPath: `${PATHS.failure}.Error`,
    CausePath: `${PATHS.failure}.Cause`,
  };

  const definition: StateMachine = {
    Comment: `stepinfer plan ${plan.planId}: stages, ${stages.length} stage${stages.length === 1 ? '' : 's'} of ${plan.model.units} units of ${plan.model.path}, batch ${plan.batch}. Generated from plan.json by stepinfer regenerate: edit the plan, not this file.`,
    QueryLanguage: 'JSONPath',
    StartAt: denseStageStateName(first),
    TimeoutSeconds: plan.workflow.executionTimeoutSeconds,
    States: states,
  };
  return { definition, substitutions: subs.substitutions() };
}

/**
 * The workflow of a (validated) stages plan and the substitutions its placeholders stand for.
 * Pure; throws WorkflowDefinitionError listing every problem rather than return a workflow AWS would refuse.
 */
export function renderStagesWorkflow(plan: StagesPlan): RenderedWorkflow {
  const rendered = renderStages(plan);
  assertValidWorkflow(rendered, `workflow of plan ${plan.planId}`);
  return rendered;
}

/** The execution input of a stages workflow: nothing; the run's input is what the client staged under the execution's name. */
export const stagesInputSchema = z.object({}).strict();

/** The input's JSON Schema (draft 2020-12). */
export function stagesInputJsonSchema(plan: StagesPlan): Record<string, unknown> {
  const generated = z.toJSONSchema(stagesInputSchema, { target: 'draft-2020-12' });
  return {
    ...generated,
    $id: `urn:stepinfer:state-machine-input:${plan.planId}`,
    title: `input of state machine ${plan.names.stateMachine}`,
    description: `Always {}: the run id is the execution name; before it starts, the client stages the batch (dims [${plan.model.input.dims.join(', ')}], float32) under ${plan.storage.inputs} with <execution> = that name (stepinfer's tensor format, functions/storage/tensor-codec.ts).`,
  };
}
