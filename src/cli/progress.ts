// Progress for long work: a bar with rate and ETA on a terminal, plain throttled lines in logs and CI.
import cliProgress from 'cli-progress';
import type { Progress } from '../loop/sampling.js';

export function makeProgress(stream: NodeJS.WriteStream = process.stderr): {
  progress: Progress;
  log: (line: string) => void;
  stop: () => void;
} {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        clearOnComplete: true,
        hideCursor: true,
        format: '{stage} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}',
      },
      cliProgress.Presets.shades_classic,
    );
    let stage = '';
    let started = 0;
    let active = false;
    const progress: Progress = (name, done, total) => {
      if (name !== stage || !active) {
        if (active) bar.stop();
        stage = name;
        started = performance.now();
        bar.start(total, done, { stage: name.padEnd(8), rate: '0' });
        active = true;
      }
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? (done / seconds).toFixed(1) : '0' });
      if (done >= total) {
        bar.stop();
        active = false;
      }
    };
    const log = (line: string) => {
      if (active) bar.stop();
      active = false;
      stream.write(`${line}\n`);
    };
    return { progress, log, stop: () => active && bar.stop() };
  }
  // not a terminal: one line per stage at 25 % steps, so logs stay readable
  let lastStage = '';
  let lastQuarter = -1;
  let started = 0;
  const progress: Progress = (name, done, total) => {
    if (name !== lastStage) {
      lastStage = name;
      lastQuarter = -1;
      started = performance.now();
    }
    const quarter = Math.floor((4 * done) / total);
    if (quarter === lastQuarter) return;
    lastQuarter = quarter;
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0.5 ? done / seconds : 0;
    const eta = rate > 0 ? `, ${rate.toFixed(1)}/s, ETA ${((total - done) / rate).toFixed(0)} s` : '';
    stream.write(`${name} ${done}/${total}${eta}\n`);
  };
  return { progress, log: (line) => stream.write(`${line}\n`), stop: () => {} };
}
