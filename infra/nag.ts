// cdk-nag's AwsSolutions pack on every synth of a plan's app, and the one way this stack
// acknowledges a finding. cdk-nag 3 is a CDK validation plugin (Validations.of(app).addPlugins),
// not an Aspect; an acknowledgment is `Validations.of(construct).acknowledge({ id, reason })`
// where a finding with details has the id `<rule>[<detail>]` (cdk-nag matches it exactly).

import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { AwsSolutionsChecks } from 'cdk-nag';

/** Runs AwsSolutions on the app's synth: any unacknowledged finding fails it. */
export function addNagChecks(app: IConstruct): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}

/** Acknowledges one finding on a construct (and its children), with its reason in one line. */
export function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}
