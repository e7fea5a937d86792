// The CDK app's context keys (`cdk synth -c plan=path/to/plan.json -c stageModels=DIR`), apart
// from the app so the CLI names them without loading aws-cdk-lib.

/** The plan file, of either kind. */
export const PLAN_CONTEXT_KEY = 'plan';
/** A stages plan's folder of stage files (package.modelFile of each stage), as `stepinfer stages <plan> -o DIR` writes them. */
export const STAGE_MODELS_CONTEXT_KEY = 'stageModels';
