// The local cloud of one plan: fauxqs (SNS, SQS and S3) in this process on a loopback port, the
// plan's bucket, topics, queues and subscriptions created there by the same resource lists infra
// deploys, and the plan's functions served by the local Lambda host (one worker thread per
// execution environment, the plan's memory and timeout; each handler from its esbuild bundle, as
// deployed), their SDK clients pointed at both by the standard endpoint variables. stop() leaves
// nothing running.

import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { StepinferError } from '../../model/errors.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';
import type { Plan, PlanFunction } from '../../planner/plan/schema.ts';
import { S3_CLIENT_SETTINGS, SQS_CLIENT_SETTINGS, type AwsClients } from '../../functions/handlers/clients.ts';
import type { StageAddresses } from '../../functions/handlers/stage-run.ts';
import { createQueueResources, queueResourceList } from '../../functions/channels/queue-resources.ts';
import { createObjectResources, objectResourceList } from '../../functions/channels/object-resources.ts';
import { startLambdaHost, type LambdaHost, type LogSink } from './lambda-host.ts';
import { handlerBundles } from './handler-bundles.ts';

/** The region and credentials the emulators accept (any value works; these say what they are). */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The handler module of each function role (one-worker plans run role "stage" on the worker handler). */
const HANDLER_MODULES: Record<PlanFunction['role'], string> = {
  worker: fileURLToPath(new URL('../../functions/handlers/worker.ts', import.meta.url)),
  stage: fileURLToPath(new URL('../../functions/handlers/worker.ts', import.meta.url)),
  coordinator: fileURLToPath(new URL('../../functions/handlers/coordinator.ts', import.meta.url)),
  gather: fileURLToPath(new URL('../../functions/handlers/gather.ts', import.meta.url)),
};

/** What was created for the plan: the addresses the handlers' events carry (functions/handlers/stage-run.ts). */
export type DeployedResources = StageAddresses;

export interface LocalCloud {
  readonly plan: Plan;
  /** Clients of this process, pointed at the emulators and the host. */
  readonly clients: AwsClients;
  readonly resources: DeployedResources;
  readonly host: LambdaHost;
  readonly fauxqs: FauxqsServer;
  /** What the plan's timeouts were multiplied by. */
  readonly timeoutScale: number;
  /** Function name -> the timeout the host enforces (the plan's, scaled, at most Lambda's 15 minutes). */
  readonly hostTimeoutSeconds: Readonly<Record<string, number>>;
  /** The coordinator function's name. */
  readonly coordinatorName: string;
  stop(): Promise<void>;
}

export interface LocalCloudOptions {
  /**
   * Multiplies every function and stage timeout of the plan. The plan's timeouts are for AWS,
   * where each worker has its own vCPUs; here P workers share this machine's cores and the
   * emulators, so a local run allows more (default localTimeoutScale(plan)). Timeouts stay enforced.
   */
  readonly timeoutScale?: number;
  /** The handlers' log lines (JSON, one per line); default: this process's output. */
  readonly logSink?: LogSink;
  /** POWERTOOLS_LOG_LEVEL of the handlers (default INFO). */
  readonly logLevel?: string;
  /**
   * The SNS, SQS and S3 endpoint the handlers reach, given fauxqs's address (default: fauxqs
   * itself). The place a test puts a faulty network between the handlers and the emulator
   * (test/helpers/flaky-network.ts); this process's own clients always talk to fauxqs directly.
   */
  readonly handlerEndpoint?: (fauxqsAddress: string) => Promise<string>;
  /**
   * A handler module per role instead of functions/handlers/ (tests: a wrapper of the real handler
   * that injects a crash or a hang). Absolute paths of modules exporting `handler`.
   */
  readonly handlerModules?: Partial<Record<PlanFunction['role'], string>>;
}

/** The default timeout scale: 4 x the workers per core of this machine, at least 4. */
export function localTimeoutScale(plan: Plan): number {
  return 4 * Math.max(1, Math.ceil(plan.workers / availableParallelism()));
}

/** The function a local run's coordinator runs as: the plan's (tree launch), or one made for local runs. */
export function coordinatorFunction(plan: Plan): { id: string; name: string; memoryMB: number; timeoutSeconds: number } {
  const own = plan.functions.find((f) => f.role === 'coordinator');
  if (own) return { id: own.id, name: plan.names.functions[own.id], memoryMB: own.memoryMB, timeoutSeconds: own.timeoutSeconds };
  // Map-launched plans start workers from Step Functions; without it, a coordinator stands in.
  const longest = Math.max(...plan.workflow.stages.map((st) => st.task.timeoutSeconds));
  return { id: 'coordinator-local', name: `${plan.names.stack}-coordinator`, memoryMB: 256, timeoutSeconds: Math.min(900, longest + 30) };
}

function clientsFor(fauxqsEndpoint: string, lambdaEndpoint: string): AwsClients {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  return {
    s3: new S3Client({ ...common, ...S3_CLIENT_SETTINGS, endpoint: fauxqsEndpoint, forcePathStyle: true }),
    sns: new SNSClient({ ...common, endpoint: fauxqsEndpoint }),
    sqs: new SQSClient({ ...common, ...SQS_CLIENT_SETTINGS, endpoint: fauxqsEndpoint }),
    lambda: new LambdaClient({ ...common, endpoint: lambdaEndpoint }),
  };
}

export async function startLocalCloud(plan: Plan, options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const fauxqs = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
  let host: LambdaHost | undefined;
  let clients: AwsClients | undefined;
  const stop = async () => {
    if (clients) for (const c of Object.values(clients)) c.destroy();
    await host?.stop();
    await fauxqs.stop();
  };
  try {
    const environment = {
      AWS_ENDPOINT_URL: options.handlerEndpoint ? await options.handlerEndpoint(fauxqs.address) : fauxqs.address,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'INFO',
    };
    const scale = options.timeoutScale ?? localTimeoutScale(plan);
    // Still at most Lambda's 15 minutes: the host enforces what Lambda does.
    const scaled = (seconds: number) => Math.min(AWS_LIMITS.lambdaMaxTimeoutSeconds.value, Math.ceil(seconds * scale));
    const moduleOf = (role: PlanFunction['role']) => options.handlerModules?.[role] ?? HANDLER_MODULES[role];
    const functions = plan.functions.map((f) => {
      const name = plan.names.functions[f.id];
      if (!name) throw new StepinferError(`the plan names no function for ${f.id}`, { field: 'names.functions' });
      return { name, handlerModule: moduleOf(f.role), memoryMB: f.memoryMB, timeoutSeconds: scaled(f.timeoutSeconds), environment };
    });
    const coordinator = coordinatorFunction(plan);
    if (!plan.functions.some((f) => f.id === coordinator.id)) {
      functions.push({ name: coordinator.name, handlerModule: moduleOf('coordinator'), memoryMB: coordinator.memoryMB, timeoutSeconds: scaled(coordinator.timeoutSeconds), environment });
    }
    // Each handler runs from its bundle, as on AWS (handler-bundles.ts): cold starts cost half the CPU.
    const bundles = await handlerBundles(functions.map((f) => f.handlerModule));
    host = await startLambdaHost({ functions: functions.map((f) => ({ ...f, handlerModule: bundles.get(f.handlerModule)! })), logSink: options.logSink });
    clients = clientsFor(fauxqs.address, host.endpoint);
    await createObjectResources(objectResourceList(plan), clients.s3);
    const queues = plan.channel.queue ? await createQueueResources(queueResourceList(plan), clients.sns, clients.sqs) : null;
    const resources: DeployedResources = {
      bucket: plan.names.bucket,
      topicArns: queues?.topicArns ?? [],
      queueUrls: queues?.queueUrls ?? [],
      exchangeBuckets: plan.names.exchangeBuckets,
      functionNames: plan.names.functions,
    };
    const hostTimeoutSeconds = Object.fromEntries(functions.map((f) => [f.name, f.timeoutSeconds]));
    return { plan, clients, resources, host, fauxqs, stop, timeoutScale: scale, hostTimeoutSeconds, coordinatorName: coordinator.name };
  } catch (error) {
    await stop();
    throw error;
  }
}
