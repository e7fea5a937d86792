// Wire-format benchmark: the activation-row traffic of the real 1024 x 120 GraphChallenge case
// (10,000 inputs) through functions/channels/, layer by layer, next to FSD-Inference's published
// queue run (data/fsd-inference) and the planner's current assumption (8 bytes per nonzero,
// base64-encoded).
//
//   npm run bench -- wire [--codecs none,zstd-3,...] [--codec zstd-3] [--workers 2,4,8] [--transport base64-body] [--json]
//
// 1. Codecs at P = 8 (hypergraph, seed 1), unicast and multicast: published bytes, messages,
//    PublishBatch calls, receives, encode and decode CPU seconds (all workers), and the price of
//    the bytes (SNS + SQS at planner/prices) plus the CPU (Lambda GB-seconds at one vCPU). The
//    pick is the lowest total: bytes saved are weighed against CPU seconds at Lambda's prices.
// 2. Per-layer traffic for a few layers.
// 3. Worker counts x {hypergraph, cyclic} x {unicast, multicast} with the runtime's codec.
// 4. The planner's byte model, message bytes = header + rows x row + nonzeros x nonzero (after
//    compression, before the transport encoding), fitted on a GENERATED 1024 x 120 workload and
//    validated on the real traffic (never on the data it was fitted to).

import { performance } from 'node:perf_hooks';
import { FileAccessError, UsageError } from '../model/errors.ts';
import { generateInputs, generateRadixNetwork } from '../model/generate.ts';
import { defaultGraphChallengeDir } from '../model/graphchallenge.ts';
import type { SparseNetwork, SparseRows } from '../model/network.ts';
import { prepareLayer, SparseLayerKernel } from '../functions/kernels/layer-kernel.ts';
import { pickRows, sampleOrder } from '../functions/serial/workload-profile.ts';
import { DEFAULT_WIRE_CODEC, parseWireCodec, wireCodecLabel, type WireCodec } from '../functions/channels/wire.ts';
import { packLayerRows } from '../functions/channels/packing.ts';
import { RowInbox } from '../functions/channels/reassembly.ts';
import { activationColumns, rowTargets, sourceRowGroups, type ActivationColumns, type SendMode } from '../functions/channels/routing.ts';
import { publishBatches, queueMessageBytes, type QueueTransport } from '../functions/channels/transport.ts';
import { communicationVolume, estimateBytes, partitionNetwork, type LayerPartition, type PartitionScheme } from '../planner/partition/index.ts';
import { defaultPrices, overridePriceValues, priceCounters, recordCounters, zeroCounters, type UsageCounters } from '../planner/cost/index.ts';
import { latencyConstants } from '../planner/latency/index.ts';
import { AWS_LIMITS } from '../planner/aws-limits.ts';
import { resolveWorkload } from '../cli/workload.ts';
import { defaultFsdRunsFile, readRunRecords } from '../cli/files.ts';
import { table } from '../cli/output.ts';

export interface WireBenchOptions {
  /** Codecs compared at P = 8 (hypergraph). */
  readonly codecs: string;
  /** The codec of the other sections and of the model fit. Default the runtime's DEFAULT_WIRE_CODEC. */
  readonly codec?: string;
  readonly workers: number[];
  readonly transport: QueueTransport;
  readonly json?: boolean;
}

export const DEFAULT_BENCH_CODECS = 'none,deflate-1,deflate-6,deflate-9,brotli-1,brotli-5,brotli-9,brotli-11,zstd-1,zstd-3,zstd-9,zstd-19';

/** Layers whose traffic the per-layer table shows. */
const SHOWN_LAYERS = [1, 2, 3, 7, 8, 10, 13, 15, 18, 20, 60, 120];
const SWEEP_WORKERS = 8;
const MODES: readonly SendMode[] = ['unicast', 'multicast'];
const SCHEMES: readonly PartitionScheme[] = ['hypergraph', 'cyclic'];

/** What one configuration's traffic came to over all layers. */
interface Traffic {
  rows: number;
  nonzeros: number;
  messages: number;
  emptyMarkers: number;
  chunkedParts: number;
  /** As published: after the transport encoding, attributes included. */
  queueBytes: number;
  /** Before the transport encoding. */
  wireBytes: number;
  /** As published in the other transport (base64 body <-> Binary attribute). */
  otherTransportBytes: number;
  deliveries: number;
  deliveredBytes: number;
  publishCalls: number;
  snsBilledRequests: number;
  receiveCalls: number;
  sqsBilledReceives: number;
  encodeSeconds: number;
  decodeSeconds: number;
  /** index l - 1 */
  readonly byLayer: { rows: number; nonzeros: number; messages: number; queueBytes: number }[];
}

function emptyTraffic(layers: number): Traffic {
  return {
    rows: 0, nonzeros: 0, messages: 0, emptyMarkers: 0, chunkedParts: 0, queueBytes: 0, wireBytes: 0, otherTransportBytes: 0, deliveries: 0, deliveredBytes: 0,
    publishCalls: 0, snsBilledRequests: 0, receiveCalls: 0, sqsBilledReceives: 0, encodeSeconds: 0, decodeSeconds: 0,
    byLayer: Array.from({ length: layers }, () => ({ rows: 0, nonzeros: 0, messages: 0, queueBytes: 0 })),
  };
}

/** One part, with what the byte model sees of it. */
interface PartSample {
  readonly layer: number;
  readonly rows: number;
  readonly nonzeros: number;
  /** Header and compressed payload of all its chunks. */
  readonly wireBytes: number;
}

interface Config {
  readonly workers: number;
  readonly scheme: PartitionScheme;
  readonly mode: SendMode;
  readonly codec: WireCodec;
  readonly partition: LayerPartition;
  /** Decode every message through a RowInbox (the receivers' CPU). */
  readonly decode: boolean;
  readonly traffic: Traffic;
  readonly parts: PartSample[] | null;
}

const chunksOf = (bytes: number) => Math.max(1, Math.ceil(bytes / AWS_LIMITS.sqsBillingChunkBytes.value));

/** One layer of one configuration: every source packs, publishes in batches; every target receives (and decodes). */
function runLayer(config: Config, layer: number, columns: ActivationColumns, network: SparseNetwork, transport: QueueTransport): void {
  const { workers, partition, traffic: t } = config;
  const inputOwner = partition.maps[layer - 1].owner;
  const targets = rowTargets(network.layers[layer - 1], inputOwner, partition.maps[layer].owner, workers);
  const everyone = Array.from({ length: workers }, (_, w) => w);
  const inboxOf: { wire: Uint8Array; queueBytes: number }[][] = everyone.map(() => []);
  const expectedRows = new Array<number>(workers).fill(0);
  const perLayer = t.byLayer[layer - 1];
  for (const source of everyone) {
    const groups = sourceRowGroups(source, columns, targets, inputOwner, config.mode);
    const started = performance.now();
    const packed = packLayerRows(groups, {
      run: 1, layer, source, samples: columns.samples, codec: config.codec, transport,
      peers: everyone.filter((w) => w !== source), multicastEmptyMarker: config.mode === 'multicast',
    });
    t.encodeSeconds += (performance.now() - started) / 1000;
    for (const batch of publishBatches(packed.messages.map((m) => m.queueBytes))) {
      let bytes = 0;
      for (let i = batch[0]; i < batch[1]; i++) bytes += packed.messages[i].queueBytes;
      t.publishCalls++;
      t.snsBilledRequests += chunksOf(bytes);
    }
    for (const m of packed.messages) {
      t.messages++;
      t.queueBytes += m.queueBytes;
      t.wireBytes += m.wire.length;
      t.otherTransportBytes += queueMessageBytes(transport === 'base64-body' ? 'binary-attribute' : 'base64-body', m.wire.length, m.targets);
      perLayer.messages++;
      perLayer.queueBytes += m.queueBytes;
      for (const target of m.targets) inboxOf[target].push(m);
    }
    for (const p of packed.parts) {
      t.rows += p.rows;
      t.nonzeros += p.nonzeros;
      perLayer.rows += p.rows;
      perLayer.nonzeros += p.nonzeros;
      if (p.empty) t.emptyMarkers++;
      if (p.chunks > 1) t.chunkedParts++;
      for (const target of p.targets) expectedRows[target] += p.rows;
      config.parts?.push({ layer, rows: p.rows, nonzeros: p.nonzeros, wireBytes: p.wireBytes });
    }
  }
  for (const target of everyone) {
    const delivered = inboxOf[target];
    // ReceiveMessage returns up to 10 messages; each call is billed per started 64 KB.
    for (let i = 0; i < delivered.length; i += 10) {
      let bytes = 0;
      for (let j = i; j < Math.min(i + 10, delivered.length); j++) bytes += delivered[j].queueBytes;
      t.receiveCalls++;
      t.sqsBilledReceives += chunksOf(bytes);
      t.deliveredBytes += bytes;
    }
    t.deliveries += delivered.length;
    if (!config.decode) continue;
    const started = performance.now();
    const inbox = new RowInbox({ run: 1, target, samples: columns.samples });
    for (const m of delivered) inbox.accept(m.wire);
    const rows = inbox.takeLayer(layer, everyone.filter((w) => w !== target));
    t.decodeSeconds += (performance.now() - started) / 1000;
    if (rows.length !== expectedRows[target]) throw new Error(`bench: worker ${target} took ${rows.length} rows in layer ${layer}, ${expectedRows[target]} were sent`);
  }
}

/** Runs inference layer by layer and every configuration's exchange before each layer. */
function runTraffic(network: SparseNetwork, inputs: SparseRows, configs: readonly Config[], transport: QueueTransport, onLayer: (l: number) => void): number[] {
  const kernel = new SparseLayerKernel(network.neurons);
  const density: number[] = [];
  let y = inputs;
  for (let l = 1; l <= network.layers.length; l++) {
    onLayer(l);
    density.push(y.rowStart[y.rows] / (y.rows * y.columns));
    const columns = activationColumns(y);
    for (const config of configs) runLayer(config, l, columns, network, transport);
    y = kernel.apply(y, prepareLayer(network.layers[l - 1]), network.bias, network.activationCap);
  }
  return density;
}

/** SNS and SQS usage of a traffic (every receive followed by one DeleteMessageBatch). */
function queueCounters(t: Traffic): UsageCounters {
  return {
    ...zeroCounters(),
    snsPublishCalls: t.publishCalls, snsPublishedBytes: t.queueBytes, snsBilledPublishRequests: t.snsBilledRequests,
    sqsReceiveCalls: t.receiveCalls, sqsReceivedBytes: t.deliveredBytes, sqsDeleteCalls: t.receiveCalls,
    sqsBilledRequests: t.sqsBilledReceives + t.receiveCalls,
  };
}

interface Priced {
  readonly bytesUSD: number;
  readonly cpuUSD: number;
  readonly totalUSD: number;
}

/** Prices at planner/prices, or with published data free (same-region SNS to SQS may carry no data charge). */
function price(t: Traffic, dataCharge = true): Priced {
  const prices = dataCharge ? defaultPrices() : overridePriceValues(defaultPrices(), { snsPerByte: 0 }, 'bench: published data free');
  const breakdown = priceCounters(queueCounters(t), prices);
  const bytesUSD = breakdown.byServiceUSD.sns + breakdown.byServiceUSD.sqs;
  // A CPU-second costs the same at any memory up to one vCPU: the share of a vCPU is proportional to memory.
  const vcpuGB = latencyConstants().lambdaFullVcpuMemoryMB / 1024;
  const cpuUSD = (t.encodeSeconds + t.decodeSeconds) * vcpuGB * prices.prices.lambdaPerGBSecond.value;
  return { bytesUSD, cpuUSD, totalUSD: bytesUSD + cpuUSD };
}

// ---------------------------------------------------------------------------------------------
// The byte model: least squares, with the coefficients kept >= 0

/**
 * Weighted least squares of y ~ X b with b >= 0 (every subset of free coefficients tried: 3 here).
 * Weights 1 / y: parts of every size count (unweighted, the few largest parts decide alone).
 */
function fitNonNegative(features: readonly number[][], y: readonly number[]): number[] {
  const k = features[0].length;
  let best: { b: number[]; sse: number } | null = null;
  for (let mask = 1; mask < 1 << k; mask++) {
    const cols = [...Array(k).keys()].filter((c) => mask & (1 << c));
    const m = cols.length;
    const a = Array.from({ length: m }, () => new Array<number>(m + 1).fill(0));
    features.forEach((x, i) => {
      const w = 1 / Math.max(1, y[i]);
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < m; c++) a[r][c] += w * x[cols[r]] * x[cols[c]];
        a[r][m] += w * x[cols[r]] * y[i];
      }
    });
    const solved = solve(a);
    if (!solved || solved.some((v) => v < 0)) continue;
    const b = new Array<number>(k).fill(0);
    cols.forEach((c, i) => { b[c] = solved[i]; });
    let sse = 0;
    features.forEach((x, i) => { const e = predict(b, x) - y[i]; sse += (e * e) / Math.max(1, y[i]); });
    if (!best || sse < best.sse) best = { b, sse };
  }
  return best ? best.b : new Array<number>(k).fill(0);
}

/** Gaussian elimination with partial pivoting on an augmented matrix; null when singular. */
function solve(a: number[][]): number[] | null {
  const m = a.length;
  for (let c = 0; c < m; c++) {
    let pivot = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r][c]) > Math.abs(a[pivot][c])) pivot = r;
    if (Math.abs(a[pivot][c]) < 1e-9 * (1 + Math.abs(a[c][c]))) return null;
    [a[c], a[pivot]] = [a[pivot], a[c]];
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j <= m; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row, i) => row[m] / row[i]);
}

const predict = (b: readonly number[], x: readonly number[]) => x.reduce((s, v, i) => s + v * b[i], 0);

interface ModelCheck {
  readonly label: string;
  readonly totalError: number;
  readonly medianError: number;
  readonly p90Error: number;
  readonly worstLayers: string;
}

/** How well `b` predicts the parts: error of the total, and per part. */
function checkModel(label: string, parts: readonly PartSample[], model: (p: PartSample) => number): ModelCheck {
  let predicted = 0, actual = 0;
  const errors: number[] = [];
  const byLayer = new Map<number, { predicted: number; actual: number }>();
  for (const p of parts) {
    const guess = model(p);
    predicted += guess;
    actual += p.wireBytes;
    errors.push(Math.abs(guess - p.wireBytes) / p.wireBytes);
    const l = byLayer.get(p.layer) ?? { predicted: 0, actual: 0 };
    l.predicted += guess;
    l.actual += p.wireBytes;
    byLayer.set(p.layer, l);
  }
  errors.sort((x, y) => x - y);
  const worst = [...byLayer.entries()].sort((x, y) => Math.abs(y[1].predicted - y[1].actual) - Math.abs(x[1].predicted - x[1].actual)).slice(0, 3)
    .map(([l, v]) => `layer ${l}: ${kilobytes(v.predicted)} for ${kilobytes(v.actual)}`).join('; ');
  return { label, totalError: predicted / actual - 1, medianError: errors[Math.floor(errors.length / 2)], p90Error: errors[Math.floor(errors.length * 0.9)], worstLayers: worst };
}

// ---------------------------------------------------------------------------------------------

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const kilobytes = (bytes: number) => `${(bytes / 1e3).toFixed(1)} kB`;
const percent = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
const usd = (x: number) => `$${x.toFixed(6)}`;

function newConfig(workers: number, scheme: PartitionScheme, mode: SendMode, codec: WireCodec, partition: LayerPartition, layers: number, o: { decode: boolean; parts: boolean }): Config {
  return { workers, scheme, mode, codec, partition, decode: o.decode, traffic: emptyTraffic(layers), parts: o.parts ? [] : null };
}

export async function benchWire(o: WireBenchOptions): Promise<void> {
  const log = (text: string) => { if (!o.json) process.stderr.write(`${text}\n`); };
  const codecOption = (text: string, field: string) => {
    try {
      return parseWireCodec(text);
    } catch (error) {
      throw new UsageError((error as Error).message, { field });
    }
  };
  const sweepCodecs = o.codecs.split(',').map((c) => codecOption(c, 'codecs'));
  const codec = o.codec ? codecOption(o.codec, 'codec') : DEFAULT_WIRE_CODEC;
  const transport = o.transport;
  const workerCounts = o.workers;
  const fsdFile = defaultFsdRunsFile();
  const fsd = readRunRecords(fsdFile).find((r) => r.variant === 'queue');
  if (!fsd) throw new FileAccessError('no record with variant "queue" (FSD-Inference over SNS/SQS)', { file: fsdFile });

  const real = resolveWorkload({}, { defaultModel: 'benchmark', inputs: 'required' });
  if (real.source !== 'graphchallenge') throw new FileAccessError(`the real GraphChallenge data is needed: ${real.description}`, { file: defaultGraphChallengeDir() });
  const { network, inputs } = real;
  const layers = network.layers.length;
  const partitions = new Map<string, LayerPartition>();
  const partitionOf = (net: SparseNetwork, name: string, workers: number, scheme: PartitionScheme) => {
    const key = `${name}/${workers}/${scheme}`;
    if (!partitions.has(key)) {
      log(`partitioning ${name}: P=${workers} ${scheme}`);
      partitions.set(key, partitionNetwork(net, workers, scheme, { seed: 1 }));
    }
    return partitions.get(key)!;
  };

  // Real traffic: the codec sweep at P = 8 (decoded, timed) and the configurations (codec and none).
  const sweep: Config[] = [];
  for (const mode of MODES) {
    for (const c of sweepCodecs) sweep.push(newConfig(SWEEP_WORKERS, 'hypergraph', mode, c, partitionOf(network, 'real', SWEEP_WORKERS, 'hypergraph'), layers, { decode: true, parts: false }));
  }
  const configs: Config[] = [];
  for (const workers of workerCounts) {
    for (const scheme of SCHEMES) {
      for (const mode of MODES) {
        configs.push(newConfig(workers, scheme, mode, codec, partitionOf(network, 'real', workers, scheme), layers, { decode: false, parts: true }));
      }
    }
  }
  const perLayerNone = newConfig(SWEEP_WORKERS, 'hypergraph', 'unicast', { name: 'none', level: 0 }, partitionOf(network, 'real', SWEEP_WORKERS, 'hypergraph'), layers, { decode: false, parts: false });
  const hypergraph8 = partitionOf(network, 'real', SWEEP_WORKERS, 'hypergraph');
  const started = performance.now();
  const realDensity = runTraffic(network, inputs, [...sweep, ...configs, perLayerNone], transport, (l) => { if (l % 20 === 1) log(`real traffic: layer ${l} of ${layers}`); });
  log(`real traffic done in ${((performance.now() - started) / 1000).toFixed(0)} s`);

  // Generated traffic of the same shape, for fitting the byte model.
  const generated = generateRadixNetwork({ neurons: network.neurons, layers, seed: 1 });
  const generatedInputs = generateInputs({ neurons: network.neurons, samples: inputs.rows, seed: 1 });
  const fitConfigs: Config[] = [];
  for (const workers of workerCounts) {
    for (const scheme of SCHEMES) {
      for (const mode of MODES) fitConfigs.push(newConfig(workers, scheme, mode, codec, partitionOf(generated, 'generated', workers, scheme), layers, { decode: false, parts: true }));
    }
  }
  runTraffic(generated, generatedInputs, fitConfigs, transport, (l) => { if (l % 20 === 1) log(`generated traffic: layer ${l} of ${layers}`); });

  // The planner's current assumption: estimateBytes (8 bytes per nonzero) x the base64 overhead.
  const overhead = latencyConstants().queueEncodingOverhead;
  const plannerBytes = (partition: LayerPartition) => estimateBytes(communicationVolume(network, partition), {
    samples: inputs.rows, activeFractionByLayer: realDensity,
  }).totalBytes * overhead;

  const fitParts = fitConfigs.flatMap((c) => c.parts!);
  const realParts = configs.flatMap((c) => c.parts!);
  const linear = (p: PartSample) => [1, p.rows, p.nonzeros];
  const fit = fitNonNegative(fitParts.map(linear), fitParts.map((p) => p.wireBytes));
  const inSample = fitNonNegative(realParts.map(linear), realParts.map((p) => p.wireBytes));
  // The proposed refinement: the same form with bytesPerNonzero per layer, measured by encoding
  // the traffic of a seeded random sample of 1,000 real inputs (as profileWorkload samples when not
  // every row is affordable) at P = 8; header and row bytes stay the generated fit's.
  const sampleRows = Math.min(inputs.rows, 1000);
  const sampleConfig = newConfig(SWEEP_WORKERS, 'hypergraph', 'unicast', codec, hypergraph8, layers, { decode: false, parts: true });
  runTraffic(network, pickRows(inputs, sampleOrder(inputs.rows, 1).slice(0, sampleRows).sort()), [sampleConfig], transport, () => {});
  const perLayer = Array.from({ length: layers }, () => ({ bytes: 0, nonzeros: 0 }));
  for (const p of sampleConfig.parts!) {
    perLayer[p.layer - 1].bytes += p.wireBytes - fit[0] - fit[1] * p.rows;
    perLayer[p.layer - 1].nonzeros += p.nonzeros;
  }
  const bytesPerNonzeroByLayer = perLayer.map((l) => (l.nonzeros > 0 ? Math.max(0, l.bytes / l.nonzeros) : fit[2]));
  const checks = [
    checkModel('linear, fitted on generated: on generated (in-sample)', fitParts, (p) => predict(fit, linear(p))),
    checkModel('linear, fitted on generated: on REAL', realParts, (p) => predict(fit, linear(p))),
    checkModel(`per-layer bytesPerNonzero from a ${sampleRows}-input profile sample: on REAL`, realParts, (p) => fit[0] + fit[1] * p.rows + bytesPerNonzeroByLayer[p.layer - 1] * p.nonzeros),
    checkModel('linear, fitted on REAL: on REAL (in-sample, for reference only)', realParts, (p) => predict(inSample, linear(p))),
  ];

  const wireTotal = (cs: readonly Config[]) => cs.reduce((s, c) => s + c.traffic.wireBytes, 0);
  const queueTotal = (cs: readonly Config[]) => cs.reduce((s, c) => s + c.traffic.queueBytes, 0);
  const fsdCounters = recordCounters(fsd);
  const fsdBreakdown = priceCounters(fsdCounters, defaultPrices());
  const fsdBytes = fsdCounters.snsPublishedBytes;
  const fsdMessages = (fsd.published as { messagesSent?: number } | undefined)?.messagesSent;
  const ranked = sweep.map((c) => ({ config: c, priced: price(c.traffic) })).sort((a, b) => a.priced.totalUSD - b.priced.totalUSD);
  const pick = ranked[0];
  const pickWithoutDataCharge = sweep.map((c) => ({ config: c, priced: price(c.traffic, false) })).sort((a, b) => a.priced.totalUSD - b.priced.totalUSD)[0];

  if (o.json) {
    const traffic = (c: Config) => ({ workers: c.workers, scheme: c.scheme, mode: c.mode, codec: wireCodecLabel(c.codec), ...c.traffic, byLayer: undefined });
    process.stdout.write(`${JSON.stringify({
      transport,
      sweep: ranked.map((r) => ({ ...traffic(r.config), ...r.priced, withoutDataChargeUSD: price(r.config.traffic, false).totalUSD })),
      configs: configs.map((c) => ({ ...traffic(c), plannerAssumptionBytes: plannerBytes(c.partition) })),
      perLayer: SHOWN_LAYERS.filter((l) => l <= layers).map((l) => ({ layer: l, none: perLayerNone.traffic.byLayer[l - 1], [wireCodecLabel(codec)]: configs.find((c) => c.workers === SWEEP_WORKERS && c.scheme === 'hypergraph' && c.mode === 'unicast')?.traffic.byLayer[l - 1] })),
      fsd: { publishedBytes: fsdBytes, publishCalls: fsdCounters.snsPublishCalls, receiveCalls: fsdCounters.sqsReceiveCalls, messages: fsdMessages },
      model: {
        fittedOn: 'generated', messageHeaderBytes: fit[0], rowHeaderBytes: fit[1], bytesPerNonzero: fit[2],
        transportFactor: queueTotal(configs) / wireTotal(configs), inSampleReal: inSample, sampleRows, bytesPerNonzeroByLayer, checks,
      },
    }, null, 2)}\n`);
    return;
  }

  const out = (text = '') => process.stdout.write(`${text}\n`);
  out(`Wire format on ${real.description}`);
  out(`transport ${transport} (${transport === 'base64-body' ? 'x4/3' : 'raw bytes in a Binary attribute'}, plus the targets attribute); one queue message <= 262,144 bytes; bytes below are as published\n`);

  out(`1. Codecs at P=${SWEEP_WORKERS}, hypergraph (seed 1): all 120 layers, every message encoded, published in batches, received and decoded`);
  out(table(
    ['codec', 'mode', 'published', 'vs FSD', 'messages', 'publishes', 'receives', 'encode s', 'decode s', 'bytes $', 'CPU $', 'total $'],
    [
      ...ranked.map(({ config: c, priced }) => [
        wireCodecLabel(c.codec), c.mode, megabytes(c.traffic.queueBytes), percent(c.traffic.queueBytes / fsdBytes - 1), c.traffic.messages, c.traffic.publishCalls,
        c.traffic.receiveCalls, c.traffic.encodeSeconds.toFixed(2), c.traffic.decodeSeconds.toFixed(2), usd(priced.bytesUSD), usd(priced.cpuUSD), usd(priced.totalUSD),
      ]),
      ['FSD-Inference', 'published', megabytes(fsdBytes), '', fsdMessages ?? '-', fsdCounters.snsPublishCalls, fsdCounters.sqsReceiveCalls, '-', '-', usd(fsdBreakdown.byServiceUSD.sns + fsdBreakdown.byServiceUSD.sqs), '-', '-'],
      ['planner today', '8 B/nnz x4/3', megabytes(plannerBytes(hypergraph8)), percent(plannerBytes(hypergraph8) / fsdBytes - 1), '', '', '', '', '', '', '', ''],
    ],
  ));
  out(`receives: at least, 10 messages a call and no empty polls (FSD's count includes its polls). $: SNS + SQS (planner/prices, deletes included) and CPU seconds (all workers) at one vCPU of Lambda; FSD's row priced the same way.`);
  out(`pick (lowest total $): ${wireCodecLabel(pick.config.codec)} ${pick.config.mode}: ${megabytes(pick.config.traffic.queueBytes)}, ${(pick.config.traffic.queueBytes / fsdBytes * 100).toFixed(1)}% of FSD-Inference's ${megabytes(fsdBytes)} (goal: at most a third, ${megabytes(fsdBytes / 3)}: ${pick.config.traffic.queueBytes <= fsdBytes / 3 ? 'met' : 'NOT met'})`);
  out(`without the $${defaultPrices().prices.snsPerByte.value * 1e9}/GB charge for published data (same-region SNS to SQS may have none): ${wireCodecLabel(pickWithoutDataCharge.config.codec)} ${pickWithoutDataCharge.config.mode} (${usd(pickWithoutDataCharge.priced.totalUSD)}; ${wireCodecLabel(pick.config.codec)} ${pick.config.mode}: ${usd(price(pick.config.traffic, false).totalUSD)})`);
  if (wireCodecLabel(pick.config.codec) !== wireCodecLabel(DEFAULT_WIRE_CODEC)) out(`note: the runtime's DEFAULT_WIRE_CODEC is ${wireCodecLabel(DEFAULT_WIRE_CODEC)}, this run picked ${wireCodecLabel(pick.config.codec)} (timings on a shared machine vary)`);
  out();

  const shown = configs.find((c) => c.workers === SWEEP_WORKERS && c.scheme === 'hypergraph' && c.mode === 'unicast');
  if (shown) {
    out(`2. Per layer, P=${SWEEP_WORKERS} hypergraph unicast: rows and nonzeros sent, published bytes without compression and with ${wireCodecLabel(codec)}`);
    out(table(
      ['layer', 'density in', 'rows', 'nonzeros', 'messages', 'none', wireCodecLabel(codec), 'B/nonzero'],
      SHOWN_LAYERS.filter((l) => l <= layers).map((l) => {
        const s = shown.traffic.byLayer[l - 1];
        return [l, realDensity[l - 1].toFixed(4), s.rows, s.nonzeros, s.messages, kilobytes(perLayerNone.traffic.byLayer[l - 1].queueBytes), kilobytes(s.queueBytes), s.nonzeros ? (s.queueBytes / s.nonzeros).toFixed(3) : '-'];
      }),
    ));
    out();
  }

  out(`3. Worker counts, ${wireCodecLabel(codec)} (the runtime's codec), real traffic`);
  out(table(
    ['P', 'scheme', 'mode', 'rows', 'nonzeros', 'messages', 'empty', 'chunked', 'publishes', 'receives', 'published', 'vs FSD', 'planner today'],
    configs.map((c) => [
      c.workers, c.scheme, c.mode, c.traffic.rows, c.traffic.nonzeros, c.traffic.messages, c.traffic.emptyMarkers, c.traffic.chunkedParts,
      c.traffic.publishCalls, c.traffic.receiveCalls, megabytes(c.traffic.queueBytes), percent(c.traffic.queueBytes / fsdBytes - 1), megabytes(plannerBytes(c.partition)),
    ]),
  ));
  const other = transport === 'base64-body' ? 'binary-attribute' : 'base64-body';
  out(`in the ${other} transport${other === 'binary-attribute' ? ' (if AWS counts a Binary attribute at its raw size: to verify)' : ''}: ${configs.map((c) => `P=${c.workers} ${c.scheme} ${c.mode} ${megabytes(c.traffic.otherTransportBytes)}`).join(', ')}`);
  for (const workers of workerCounts) {
    const [h, c] = SCHEMES.map((scheme) => partitionOf(network, 'real', workers, scheme));
    if (h.maps.every((m, l) => m.owner.every((owner, j) => owner === c.maps[l].owner[j]))) out(`P=${workers}: hypergraph kept cyclic's map on this network (no map with fewer row-sends found), so their traffic is the same`);
  }
  out();

  out(`4. Planner byte model (${wireCodecLabel(codec)}): message bytes = header + rows x row + nonzeros x nonzero, after compression, before the transport encoding`);
  out(`   fitted on generated RadiX-Net ${network.neurons} x ${layers} (seed 1, ${inputs.rows} generated inputs), P = ${workerCounts.join(', ')} x hypergraph, cyclic x unicast, multicast: ${fitParts.length} parts`);
  out(`   (least squares weighted 1 / bytes, coefficients >= 0): messageHeaderBytes ${fit[0].toFixed(2)}, rowHeaderBytes ${fit[1].toFixed(4)}, bytesPerNonzero ${fit[2].toFixed(6)}`);
  out(`   transport factor: published / wire bytes = ${(queueTotal(configs) / wireTotal(configs)).toFixed(4)} on the real traffic (${transport}: ${transport === 'base64-body' ? '4 x ceil(n / 3)' : 'n + 11'} + targets attribute ${'"targets" "String" ",t,..."'} per message)`);
  out(`   in-sample fit on the real traffic, for reference: ${inSample.map((v) => v.toFixed(4)).join(', ')}`);
  out(`   per-layer bytesPerNonzero from the profile sample (layers ${SHOWN_LAYERS.join(', ')}): ${SHOWN_LAYERS.filter((l) => l <= layers).map((l) => bytesPerNonzeroByLayer[l - 1].toFixed(3)).join(', ')}`);
  out(table(['model, data', 'total error', 'median |error| per part', '90th percentile', 'worst layers (predicted for actual)'],
    checks.map((c) => [c.label, percent(c.totalError), `${(c.medianError * 100).toFixed(1)}%`, `${(c.p90Error * 100).toFixed(1)}%`, c.worstLayers])));
}
