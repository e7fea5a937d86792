// The local Lambda host (workflows/local/lambda-host.ts) through the real @aws-sdk/client-lambda:
// real HTTP on loopback, real worker threads, the fixtures in test/fixtures/handlers/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { startLambdaHost, type LambdaHost } from '../../workflows/local/lambda-host.ts';
import { AWS_LIMITS } from '../../planner/aws-limits.ts';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/handlers/${name}.ts`, import.meta.url));

let host: LambdaHost;
let client: LambdaClient;

beforeAll(async () => {
  host = await startLambdaHost({
    functions: [
      { name: 'echo', handlerModule: fixture('echo'), memoryMB: 128, timeoutSeconds: 5 },
      { name: 'forever', handlerModule: fixture('forever'), memoryMB: 128, timeoutSeconds: 1 },
      { name: 'hungry', handlerModule: fixture('hungry'), memoryMB: 32, timeoutSeconds: 30 },
    ],
  });
  client = new LambdaClient({
    endpoint: host.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
});

afterAll(async () => {
  client?.destroy();
  await host?.stop();
});

const invoke = (FunctionName: string, event: unknown, InvocationType: 'RequestResponse' | 'Event' | 'DryRun' = 'RequestResponse'): Promise<InvokeCommandOutput> =>
  client.send(new InvokeCommand({ FunctionName, InvocationType, Payload: new TextEncoder().encode(JSON.stringify(event)) }));

const payloadOf = (output: InvokeCommandOutput): any => JSON.parse(new TextDecoder().decode(output.Payload));

describe('local Lambda host', () => {
  it('answers a RequestResponse invocation with the handler result and a Lambda context', async () => {
    const output = await invoke('echo', { note: 'sync' });
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBeUndefined();
    expect(output.ExecutedVersion).toBe('$LATEST');
    const result = payloadOf(output);
    expect(result.event).toEqual({ note: 'sync' });
    expect(result.functionName).toBe('echo');
    expect(result.memoryLimitInMB).toBe('128');
    expect(result.remainingPositive).toBe(true);
    const record = host.invocations.find((invocation) => invocation.requestId === result.awsRequestId);
    expect(record).toMatchObject({ functionName: 'echo', invocationType: 'RequestResponse', outcome: 'succeeded' });
    expect(record!.endMs! >= record!.startMs).toBe(true);
  });

  it('reaches a function by ARN', async () => {
    const output = await invoke('arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST', { note: 'arn' });
    expect(payloadOf(output).event).toEqual({ note: 'arn' });
  });

  it('runs an Event invocation in the background and records it', async () => {
    const before = host.invocations.length;
    const output = await invoke('echo', { note: 'async', waitMs: 50 }, 'Event');
    expect(output.StatusCode).toBe(202);
    expect(output.Payload?.length ?? 0).toBe(0);
    await host.drained();
    const recorded = host.invocations.slice(before);
    expect(recorded.map(({ functionName, invocationType, outcome }) => ({ functionName, invocationType, outcome }))).toEqual([
      { functionName: 'echo', invocationType: 'Event', outcome: 'succeeded' },
    ]);
  });

  it('answers DryRun with 204 and runs nothing', async () => {
    const before = host.invocations.length;
    const output = await invoke('echo', {}, 'DryRun');
    expect(output.StatusCode).toBe(204);
    expect(host.invocations.length).toBe(before);
  });

  it('surfaces a handler error as FunctionError Unhandled with its type and message', async () => {
    const output = await invoke('echo', { fail: 'layer 7 has no rows' });
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBe('Unhandled');
    const error = payloadOf(output);
    expect(error.errorType).toBe('RangeError');
    expect(error.errorMessage).toBe('layer 7 has no rows');
    expect(error.trace[0]).toBe('RangeError: layer 7 has no rows');
  });

  it('records a failed Event invocation without disturbing the host', async () => {
    const before = host.invocations.length;
    await invoke('echo', { fail: 'in the background' }, 'Event');
    await host.drained();
    expect(host.invocations.slice(before).map(({ outcome, errorType, errorMessage }) => ({ outcome, errorType, errorMessage }))).toEqual([
      { outcome: 'failed', errorType: 'RangeError', errorMessage: 'in the background' },
    ]);
    expect(payloadOf(await invoke('echo', { note: 'still up' })).event).toEqual({ note: 'still up' });
  });

  it('rejects an unknown function with ResourceNotFoundException', async () => {
    await expect(invoke('nope', {})).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
  });

  it('rejects payloads over the sync and async limits with RequestTooLargeException', async () => {
    const over = (bytes: number) => ({ pad: 'x'.repeat(bytes) });
    await expect(invoke('echo', over(AWS_LIMITS.lambdaSyncPayloadBytes.value))).rejects.toMatchObject({ name: 'RequestTooLargeException', $metadata: { httpStatusCode: 413 } });
    await expect(invoke('echo', over(AWS_LIMITS.lambdaAsyncPayloadBytes.value), 'Event')).rejects.toMatchObject({ name: 'RequestTooLargeException', $metadata: { httpStatusCode: 413 } });
    // Between the two limits: fine synchronously.
    const output = await invoke('echo', over(AWS_LIMITS.lambdaAsyncPayloadBytes.value));
    expect(payloadOf(output).event.pad.length).toBe(AWS_LIMITS.lambdaAsyncPayloadBytes.value);
  });

  it('terminates a handler past its timeout and reports it as Lambda does', async () => {
    const threadsBefore = host.liveThreads();
    const output = await invoke('forever', {});
    expect(output.FunctionError).toBe('Unhandled');
    const error = payloadOf(output);
    expect({ errorType: error.errorType, errorMessage: error.errorMessage }).toEqual({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 1.00 seconds' });
    expect(host.invocations.at(-1)).toMatchObject({ functionName: 'forever', outcome: 'timed-out' });
    expect(host.liveThreads()).toBe(threadsBefore);
  });

  it('fails an invocation that exhausts its heap with Runtime.OutOfMemory, and the next one runs on a fresh thread', async () => {
    const output = await invoke('hungry', { allocate: true });
    expect(output.FunctionError).toBe('Unhandled');
    expect(payloadOf(output).errorType).toBe('Runtime.OutOfMemory');
    expect(host.invocations.at(-1)).toMatchObject({ functionName: 'hungry', outcome: 'out-of-memory', cold: true });
    expect(payloadOf(await invoke('hungry', {}))).toBe('fed');
    expect(host.invocations.at(-1)).toMatchObject({ functionName: 'hungry', outcome: 'succeeded', cold: true });
  });

  it('terminates the thread of a running invocation on request, as when its execution environment dies', async () => {
    const before = host.invocations.length;
    const threadsBefore = host.liveThreads();
    await invoke('echo', { note: 'doomed', waitMs: 60_000 }, 'Event');
    const record = host.invocations.slice(before).find((invocation) => JSON.parse(invocation.event).note === 'doomed');
    expect(record).toMatchObject({ functionName: 'echo', invocationType: 'Event', outcome: 'running' });
    expect(host.terminate(record!.requestId)).toBe(true);
    await host.drained();
    expect(record).toMatchObject({ outcome: 'failed', errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited with error: signal: killed' });
    expect(host.terminate(record!.requestId)).toBe(false);
    expect(host.terminate('no-such-request')).toBe(false);
    // The dead thread is gone (a warm one it took, or the one it started); the next invocation runs elsewhere.
    expect(host.liveThreads()).toBe(threadsBefore - (record!.cold ? 0 : 1));
    expect(payloadOf(await invoke('echo', { note: 'after' })).event).toEqual({ note: 'after' });
  });

  it('keeps module state on a warm thread and runs concurrent invocations on two threads', async () => {
    const first = payloadOf(await invoke('echo', { note: 'warm 1' }));
    const second = payloadOf(await invoke('echo', { note: 'warm 2' }));
    expect(second.threadId).toBe(first.threadId);
    expect(second.served).toBe(first.served + 1);
    expect(host.invocations.at(-1)!.cold).toBe(false);
    const [a, b] = (await Promise.all([invoke('echo', { waitMs: 300 }), invoke('echo', { waitMs: 300 })])).map(payloadOf);
    expect(a.threadId === b.threadId).toBe(false);
  });
});

describe('stopping the local Lambda host', () => {
  it('leaves no thread or listening socket, and a second stop is harmless', async () => {
    const servers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPServerWrap').length;
    const serversBefore = servers();
    const own = await startLambdaHost({ functions: [{ name: 'echo', handlerModule: fixture('echo'), memoryMB: 128, timeoutSeconds: 5 }] });
    expect(servers()).toBe(serversBefore + 1);
    const ownClient = new LambdaClient({ endpoint: own.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    await ownClient.send(new InvokeCommand({ FunctionName: 'echo', Payload: new TextEncoder().encode('{}') }));
    expect(own.liveThreads()).toBe(1);
    ownClient.destroy();
    await own.stop();
    expect(own.liveThreads()).toBe(0);
    expect(servers()).toBe(serversBefore);
    await own.stop();
    await expect(fetch(`${own.endpoint}/2015-03-31/functions/echo/invocations`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('terminates a handler that is still spinning when the host stops', async () => {
    const own = await startLambdaHost({ functions: [{ name: 'forever', handlerModule: fixture('forever'), memoryMB: 128, timeoutSeconds: 900 }] });
    const response = await fetch(`${own.endpoint}/2015-03-31/functions/forever/invocations`, { method: 'POST', headers: { 'X-Amz-Invocation-Type': 'Event' }, body: '{}' });
    expect(response.status).toBe(202);
    expect(own.liveThreads()).toBe(1);
    await own.stop();
    await own.drained();
    expect(own.liveThreads()).toBe(0);
    expect(own.invocations.map(({ outcome, errorMessage }) => ({ outcome, errorMessage }))).toEqual([{ outcome: 'failed', errorMessage: 'the local Lambda host stopped' }]);
  });
});

describe('configuring the local Lambda host', () => {
  it.each([
    [[{ name: 'a', handlerModule: fixture('echo'), memoryMB: 128, timeoutSeconds: 0 }], 'field functions[0].timeoutSeconds: timeoutSeconds 0 of a is not a whole number of seconds in 1-900'],
    [[{ name: 'a', handlerModule: fixture('echo'), memoryMB: 0.5, timeoutSeconds: 3 }], 'field functions[0].memoryMB: memoryMB 0.5 of a is not a positive whole number of MB'],
    [
      [
        { name: 'a', handlerModule: fixture('echo'), memoryMB: 128, timeoutSeconds: 3 },
        { name: 'a', handlerModule: fixture('echo'), memoryMB: 128, timeoutSeconds: 3 },
      ],
      'field functions[1].name: function a is given twice',
    ],
  ])('refuses %j', async (functions, message) => {
    await expect(startLambdaHost({ functions })).rejects.toThrow(message);
  });
});
