// A faulty network between the handlers and fauxqs, for the fault tests of distributed runs
// (test/distributed/faults.test.ts): an HTTP proxy on loopback that forwards every request to
// fauxqs as it is, except SNS PublishBatch calls, which it hands to a rule. A rule may deliver a
// call twice (a retried PublishBatch, an SNS redelivery), late, reordered, in part, or never, and
// answers the publisher as it likes: with fauxqs's own answer, or with a success in fauxqs's form
// for messages it never delivered. The handlers reach it through the local cloud's
// handlerEndpoint option (workflows/local/local-cloud.ts); the test process's own clients do not.
//
// PublishBatch travels as an awsQuery form: Action=PublishBatch, TopicArn, and per entry N the
// fields PublishBatchRequestEntries.member.N.{Id, Message, MessageAttributes...}. The queue
// channel's Message is the base64 of one wire message (functions/channels/transport.ts), whose
// header says run, layer, source, part and chunk: what rules match on.

import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { decodeWireMessage, type WireHeader } from '../../functions/channels/wire.ts';

/** One entry of a PublishBatch call. */
export interface PublishedEntry {
  readonly id: string;
  /** Its form fields without the `PublishBatchRequestEntries.member.N.` prefix (Id, Message, MessageAttributes.entry.K...). */
  readonly fields: readonly (readonly [string, string])[];
  /** The header of the wire message it carries. */
  readonly header: WireHeader;
}

/** An HTTP answer, as fauxqs gave it or as a rule made it. */
export interface HttpReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

export interface PublishBatchCall {
  readonly topicArn: string;
  readonly entries: readonly PublishedEntry[];
  /** Sends these entries (default: all, as published) to fauxqs as one PublishBatch, in this order; fauxqs's answer. */
  forward(entries?: readonly PublishedEntry[]): Promise<HttpReply>;
  /** The answer fauxqs gives when every entry of the call was published (none is sent by this). */
  accepted(): HttpReply;
}

/** What the network does with one PublishBatch call: resolves with the publisher's answer. */
export type PublishRule = (call: PublishBatchCall) => HttpReply | Promise<HttpReply>;

/** The rule of a sound network. */
export const DELIVER: PublishRule = (call) => call.forward();

export interface FlakyNetwork {
  /** http://127.0.0.1:<port>: the handlers' AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  /** The rule for the next PublishBatch calls (set it between runs; default DELIVER). */
  rule: PublishRule;
  /** Every wire message delivered to fauxqs, in delivery order, since the last clear(). */
  readonly delivered: WireHeader[];
  clear(): void;
  stop(): Promise<void>;
}

const ENTRY_FIELD = /^PublishBatchRequestEntries\.member\.(\d+)\.(.+)$/;
const SNS_XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Headers to send upstream: the publisher's, for a body of `bytes`. */
function upstreamHeaders(headers: IncomingHttpHeaders, host: string, bytes: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    // The body may be rewritten, and 100-continue was answered here already.
    if (value === undefined || name === 'host' || name === 'content-length' || name === 'expect' || name === 'connection' || name === 'transfer-encoding') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  out.host = host;
  out['content-length'] = String(bytes);
  return out;
}

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'connection' || name === 'transfer-encoding' || name === 'keep-alive') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** PublishBatch entries of a form, in member order, and the call's other fields. */
function parsePublishBatch(form: URLSearchParams): { common: [string, string][]; entries: PublishedEntry[]; topicArn: string } {
  const common: [string, string][] = [];
  const members = new Map<number, [string, string][]>();
  for (const [name, value] of form) {
    const m = ENTRY_FIELD.exec(name);
    if (!m) { common.push([name, value]); continue; }
    const n = Number(m[1]);
    if (!members.has(n)) members.set(n, []);
    members.get(n)!.push([m[2], value]);
  }
  const entries = [...members.entries()].sort((a, b) => a[0] - b[0]).map(([n, fields]) => {
    const field = (name: string) => fields.find(([f]) => f === name)?.[1];
    const id = field('Id'), message = field('Message');
    if (id === undefined || message === undefined) throw new Error(`flaky network: PublishBatch entry ${n} has no Id or Message`);
    return { id, fields, header: decodeWireMessage(new Uint8Array(Buffer.from(message, 'base64')), `PublishBatch entry ${id}`).header };
  });
  return { common, entries, topicArn: form.get('TopicArn') ?? '' };
}

function publishBatchForm(common: readonly [string, string][], entries: readonly PublishedEntry[]): string {
  const form = new URLSearchParams();
  for (const [name, value] of common) form.append(name, value);
  entries.forEach((entry, i) => {
    for (const [name, value] of entry.fields) form.append(`PublishBatchRequestEntries.member.${i + 1}.${name}`, value);
  });
  return form.toString();
}

/** fauxqs's PublishBatch success answer (node_modules/fauxqs/dist/common/xml.js snsSuccessResponse, sns/actions/publish.js). */
function acceptedReply(entries: readonly PublishedEntry[]): HttpReply {
  const members = entries.map((e) => `<member><Id>${e.id}</Id><MessageId>${randomUUID()}</MessageId></member>`).join('');
  const body = [
    `<PublishBatchResponse xmlns="${SNS_XMLNS}">`,
    '  <PublishBatchResult>',
    `    <Successful>${members}</Successful><Failed></Failed>`,
    '  </PublishBatchResult>',
    '  <ResponseMetadata>',
    `    <RequestId>${randomUUID()}</RequestId>`,
    '  </ResponseMetadata>',
    '</PublishBatchResponse>',
  ].join('\n');
  return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(body) };
}

/** Starts the proxy in front of `fauxqsAddress` (http://host:port). */
export async function startFlakyNetwork(fauxqsAddress: string): Promise<FlakyNetwork> {
  const upstream = new URL(fauxqsAddress);
  const agent = new Agent({ keepAlive: true });
  const delivered: WireHeader[] = [];

  /** One request to fauxqs, its answer buffered. */
  const send = (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<HttpReply> =>
    new Promise((resolve, reject) => {
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, method, path, agent, headers: upstreamHeaders(headers, upstream.host, body.length) }, (reply) => {
        readAll(reply).then((replyBody) => resolve({ status: reply.statusCode ?? 502, headers: flatHeaders(reply.headers), body: replyBody }), reject);
      });
      out.on('error', reject);
      out.end(body);
    });

  const reply = (response: ServerResponse, r: HttpReply) => {
    if (response.destroyed) return;
    response.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) }).end(r.body);
  };

  // Made once the proxy listens (its endpoint known); no request can arrive before.
  let network: FlakyNetwork;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET', path = request.url ?? '/';
    const body = await readAll(request);
    // SNS speaks awsQuery forms; SQS (JSON) and S3 (REST) pass untouched.
    const form = method === 'POST' && (request.headers['content-type'] ?? '').includes('x-www-form-urlencoded') ? new URLSearchParams(body.toString('utf8')) : null;
    if (form?.get('Action') !== 'PublishBatch') {
      reply(response, await send(method, path, request.headers, body));
      return;
    }
    const { common, entries, topicArn } = parsePublishBatch(form);
    const call: PublishBatchCall = {
      topicArn,
      entries,
      forward: async (chosen = entries) => {
        const answer = await send(method, path, request.headers, Buffer.from(publishBatchForm(common, chosen)));
        // Counted once fauxqs took them: the order SQS received them in.
        if (answer.status === 200) delivered.push(...chosen.map((e) => e.header));
        return answer;
      },
      accepted: () => acceptedReply(entries),
    };
    reply(response, await network.rule(call));
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent && !response.destroyed) response.writeHead(502, { 'content-type': 'text/plain' }).end(`flaky network: ${error instanceof Error ? error.message : String(error)}`);
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  network = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    rule: DELIVER,
    delivered,
    clear() {
      delivered.length = 0;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
  return network;
}
