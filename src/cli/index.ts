#!/usr/bin/env node
// `svgap <command> [flags]`: the installed entry point; each command is the module behind `npm run <command>`.
const COMMANDS: Record<string, string> = {
  train: 'self-improvement rounds',
  pretrain: 'pre-train a preset on labelled arith',
  fit: 'fit the theory to a run or a CSV/JSONL',
  figures: "the paper's figures from runs",
  cross: 'cross-improvement arms',
  grade: 'grade predictions against references',
  bench: 'per-round throughput per backend',
};

const command = process.argv[2];
if (command === undefined || command === '--help' || command === '-h') {
  process.stdout.write(
    `usage: svgap <command> [flags]   (svgap <command> --help for its flags)\n\n${Object.entries(COMMANDS)
      .map(([name, what]) => `  ${name.padEnd(9)} ${what}`)
      .join('\n')}\n`,
  );
  process.exit(command === undefined ? 1 : 0);
}
if (!(command in COMMANDS)) {
  process.stderr.write(`error: unknown command '${command}'; one of ${Object.keys(COMMANDS).join(', ')}\n`);
  process.exit(2);
}
process.argv.splice(2, 1); // the command's own parser sees only its flags
await import(`./${command}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`);
