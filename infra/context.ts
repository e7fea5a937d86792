// The CDK app's context key naming the plan file (`cdk synth -c plan=path/to/plan.json`), apart
// from the app so the CLI names it without loading aws-cdk-lib.

export const PLAN_CONTEXT_KEY = 'plan';
