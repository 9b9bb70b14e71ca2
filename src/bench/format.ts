// The report as plain-text tables (what `npm run bench` prints without --json).
import { THROUGHPUT_STAGES, type ThroughputStage } from './backend.js';
import { BREAKDOWN_PARTS, PART_LABELS } from './profile.js';
import type { BenchReport } from './run.js';
import { COMPARED_KEYS, type ComparedKey } from './torch.js';

const STAGE_LABELS: Record<ThroughputStage, string> = {
  train: 'train (full)',
  trainLora: 'train (LoRA)',
  sample: 'sample',
  score: 'score',
  verify: 'verify',
};
const KEY_LABELS: Record<ComparedKey, string> = {
  trainTokensPerSecond: 'train',
  trainLoraTokensPerSecond: 'LoRA',
  sampleTokensPerSecond: 'sample',
  scoreTokensPerSecond: 'score',
  verifyTokensPerSecond: 'verify',
};
const ROUND_STAGES = ['sample', 'score', 'verify', 'train', 'eval'] as const;

/** Columns padded to their widest cell; the first column left-aligned, the rest right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const fixed = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const percent = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%` : '–');
const mb = (bytes: number) => fixed(bytes / 2 ** 20, 0);
const rate = (x: number) => (x >= 100 ? fixed(x, 0) : fixed(x, 1));
const ratio = (x: number) => (x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));

export function formatReport(report: BenchReport): string {
  const out: string[] = [];
  const m = report.machine;
  const model = report.model;
  const s = report.settings.sizes;
  out.push(
    `machine: ${m.cpu}, ${m.cores} cores, ${fixed(m.memoryBytes / 2 ** 30, 0)} GiB; load average ${m.loadAverage.start.join(' ')} → ${(m.loadAverage.end ?? []).join(' ')}; node ${m.node}, tfjs ${m.tfjs}`,
  );
  out.push(
    `model: ${model.spec} (${model.source}), ${model.parameters.toLocaleString('en-US')} parameters (LoRA r=${s.loraRank}: ${model.loraParameters.toLocaleString('en-US')}); ` +
      `hidden ${model.config.hidden_size}, ${model.config.num_hidden_layers} layers, vocab ${model.config.vocab_size}`,
  );
  out.push(
    `sizes: train ${s.batch}×${report.settings.trainSeqLength}; sample ${s.sampleBatch} rows, prompt ${s.promptLength} + ${s.newTokens} new; ` +
      `score ${s.sampleBatch}×${s.promptLength + s.newTokens}; verify ${s.sampleBatch}×${report.settings.verifyLength}; ` +
      `round: pool ${s.poolSize} × N ${s.samples}, ${s.evalsPerRound} evals of ${s.evalSize} + ${s.testSize} test`,
  );
  out.push(
    `timing: median of up to ${report.settings.timing.reps} after ${report.settings.timing.warmup} warm-up (≤ ${report.settings.timing.maxSeconds} s each); rounds: ${report.settings.timing.roundReps}`,
  );
  for (const skipped of report.skipped) out.push(`skipped ${skipped.backend}: ${skipped.reason}`);
  if (report.results.length === 0) return out.join('\n');

  out.push('', 'Throughput (tokens/s) and memory');
  out.push(
    table(
      [
        'backend',
        'threads',
        'train',
        'LoRA',
        'sample',
        'score',
        'verify',
        'round s',
        'RSS MB',
        'tensors MB',
        'matmul GFLOP/s',
        'µs/kernel',
        'load',
      ],
      report.results.map((r) => [
        r.backend,
        String(r.threads),
        rate(r.trainTokensPerSecond),
        rate(r.trainLoraTokensPerSecond),
        rate(r.sampleTokensPerSecond),
        rate(r.scoreTokensPerSecond),
        rate(r.verifyTokensPerSecond),
        fixed(r.roundSeconds, 1),
        mb(r.peakRssBytes),
        mb(r.backendPeakBytes),
        fixed(r.matmulPeakFlopsPerSecond / 1e9, 1),
        fixed(r.dispatchMicroseconds, 1),
        `${r.loadAverage.start[0]}→${r.loadAverage.end[0]}`,
      ]),
    ),
  );

  out.push('', "Model FLOPs utilisation (model FLOP/s ÷ the same backend's matmul peak)");
  out.push(
    table(
      ['backend', ...THROUGHPUT_STAGES.map((st) => STAGE_LABELS[st])],
      report.results.map((r) => [r.backend, ...THROUGHPUT_STAGES.map((st) => percent(r.mfu[st]))]),
    ),
  );

  out.push('', 'One round (runRound of src/loop/round.ts, as npm run train runs it): wall time and share per stage');
  out.push(
    table(
      ['backend', 'round s', ...ROUND_STAGES, 'train steps', 'mean response'],
      report.results.map((r) => [
        r.backend,
        fixed(r.roundSeconds, 2),
        ...ROUND_STAGES.map((st) => `${percent(r.stageShare[st])} (${fixed(r.stageSeconds[st], 1)} s)`),
        String(r.round.trainSteps),
        fixed(r.round.meanResponseLength, 1),
      ]),
    ),
  );

  out.push('', `What dominates each stage (share of ${BREAKDOWN_PARTS.map((p) => PART_LABELS[p]).join(' | ')})`);
  const rows: string[][] = [];
  for (const r of report.results) {
    for (const st of THROUGHPUT_STAGES) {
      const b = r.breakdown[st];
      rows.push([
        `${r.backend} ${STAGE_LABELS[st]}`,
        fixed(b.wallSeconds * 1000, 0),
        String(b.kernels),
        ...BREAKDOWN_PARTS.map((p) => percent(b.share[p])),
        b.dominant,
        fixed(b.matmulFlopsPerSecond / 1e9, 1),
        fixed(b.memoryBytesPerSecond / 1e9, 1),
        b.topKernels
          .slice(0, 3)
          .map((k) => `${k.name} ${fixed(k.seconds * 1000, 0)}`)
          .join(', '),
      ]);
    }
  }
  out.push(
    table(
      ['backend stage', 'ms', 'kernels', 'matmul', 'memory', 'dispatch', 'JS', 'dominant', 'mm GFLOP/s', 'mem GB/s', 'top kernels (ms)'],
      rows,
    ),
  );

  const torch = report.torch;
  if (torch) {
    out.push('');
    if (!torch.reference) out.push(`PyTorch reference: none (${torch.error})`);
    else {
      const keys = COMPARED_KEYS.filter((k) => torch.reference!.values[k] !== undefined);
      out.push(`PyTorch reference: ${torch.reference.command}`);
      out.push(
        table(
          ['', ...keys.map((k) => KEY_LABELS[k])],
          [
            [`PyTorch ${String(torch.reference.row.torch ?? '')} tokens/s`.trim(), ...keys.map((k) => rate(torch.reference!.values[k]!))],
            ...torch.ratios.map((r) => [
              `${r.backend} / PyTorch`,
              ...keys.map((k) => (r.ratios[k] === undefined ? '–' : `${ratio(r.ratios[k])}×`)),
            ]),
          ],
        ),
      );
    }
  }

  const sweep = report.sweep;
  if (sweep) {
    out.push('');
    if ('error' in sweep) out.push(`sweep: none (${sweep.error})`);
    else {
      const first = sweep.points[0];
      out.push(`Scaling of one round on ${sweep.backend} (× : relative to the first row, the base sizes)`);
      out.push(
        table(
          ['model', 'params', 'N', 'pool', 'round s', '×', ...ROUND_STAGES.map((st) => `${st} s`), 'mean response'],
          sweep.points.map((p) => [
            p.model,
            p.parameters.toLocaleString('en-US'),
            String(p.samples),
            String(p.poolSize),
            fixed(p.roundSeconds, 2),
            first ? `${(p.roundSeconds / first.roundSeconds).toFixed(2)}` : '',
            ...ROUND_STAGES.map((st) => fixed(p.stageSeconds[st], 2)),
            fixed(p.meanResponseLength, 1),
          ]),
        ),
      );
    }
  }
  return out.join('\n');
}
