import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseTrajectoryText, readTrajectoryFile } from '../src/theory/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'theory');
const fixture = (name: string) => join(fixtures, name);

describe('reading trajectories', () => {
  it("reads this project's metrics.jsonl with the default column names", () => {
    const table = readTrajectoryFile(fixture('metrics.jsonl'));
    expect(table.format).toBe('wide');
    expect(table.timeCol).toBe('t');
    const tr = table.panels.default;
    expect(tr.t).toEqual(Array.from({ length: 13 }, (_, i) => i));
    expect(tr.solver[0]).toBe(20.992131);
    expect(tr.verifier[0]).toBe(12.981673);
    expect(tr.gap?.[0]).toBe(8.010458);
  });

  it('reads a CSV export with its own column names', () => {
    const tr = readTrajectoryFile(fixture('pytorch_export.csv'), { timeCol: 'step', solverCol: 'solver_nll', verifierCol: 'verifier_nll' })
      .panels.default;
    expect(tr.t.slice(0, 3)).toEqual([0, 200, 400]);
    expect(tr.solver[0]).toBe(1.791342);
    expect(tr.gap).toBeUndefined();
  });

  it('reads the long format panel,series,epoch,value with one trajectory per panel', () => {
    const table = readTrajectoryFile(fixture('long.csv'));
    expect(table.format).toBe('long');
    expect(table.timeCol).toBe('epoch');
    expect(Object.keys(table.panels)).toEqual(['alpha', 'beta']);
    const a = table.panels.alpha;
    expect(a.t).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]);
    a.gap!.forEach((g, i) => expect(a.solver[i] - a.verifier[i] - g).toBeCloseTo(0.02, 5));
  });

  it('handles quoted CSV fields, TSV and blank lines', () => {
    const csv = 't,"solverUncertainty","verifierUncertainty",note\n0,1,0.5,"a, b"\n\n1,0.9,0.45,"say ""hi"""\n';
    expect(parseTrajectoryText(csv, 'x.csv').panels.default.solver).toEqual([1, 0.9]);
    const tsv = 'round\tsolverUncertainty\tverifierUncertainty\n1\t1\t0.5\n2\t0.9\t0.4\n';
    expect(parseTrajectoryText(tsv, 'x.tsv').panels.default.t).toEqual([1, 2]);
  });

  it('names the file, line and column for bad input', () => {
    expect(() => readTrajectoryFile(fixture('bad_missing_column.csv'))).toThrow(
      /bad_missing_column\.csv: no verifier column 'verifierUncertainty' \(pass --verifier-col\); columns are: t, solverUncertainty, verifier/,
    );
    expect(() => readTrajectoryFile(fixture('bad_nonnumeric.csv'))).toThrow(
      /bad_nonnumeric\.csv:4: column 'solverUncertainty' has "abc", not a finite number/,
    );
    expect(() => readTrajectoryFile(fixture('bad_nonmonotone.jsonl'))).toThrow(
      /bad_nonmonotone\.jsonl:4: time 2 in column 't' does not increase \(previous 3 on line 3\)/,
    );
    expect(() => readTrajectoryFile(fixture('nope.csv'))).toThrow(/nope\.csv: cannot read \(ENOENT\)/);
    expect(() => parseTrajectoryText('t,solverUncertainty,verifierUncertainty\n0,1\n', 'y.csv')).toThrow(
      /y\.csv:2: 2 fields, the header has 3/,
    );
    expect(() =>
      parseTrajectoryText(
        '{"t":0,"solverUncertainty":1,"verifierUncertainty":0.5}\n{"t":1,"solverUncertainty":null,"verifierUncertainty":0.4}\n',
        'm.jsonl',
      ),
    ).toThrow(/m\.jsonl:2: column 'solverUncertainty' has null/);
    expect(() => parseTrajectoryText('{"t":0,"solverUncertainty":1}\n', 'm.jsonl')).toThrow(/no verifier column/);
    expect(() => parseTrajectoryText('{"t":0,"solverUncertainty":1,"verifierUncertainty":0.5}\n{oops\n', 'm.jsonl')).toThrow(
      /m\.jsonl:2: not valid JSON/,
    );
    expect(() => parseTrajectoryText('x,solverUncertainty,verifierUncertainty\n0,1,0.5\n', 'z.csv')).toThrow(/no time column/);
    expect(() => parseTrajectoryText('t,series,value\n0,solver,1\n0,judge,1\n', 'l.csv')).toThrow(/l\.csv:3: column 'series' has 'judge'/);
    expect(() => parseTrajectoryText('t,series,value\n0,solver,1\n1,solver,0.9\n0,verifier,1\n2,verifier,0.8\n', 'l.csv')).toThrow(
      /verifier series has times 0,2 but the solver series has 0,1/,
    );
    expect(() => parseTrajectoryText('t,series,value\n0,solver,1\n1,solver,0.9\n', 'l.csv')).toThrow(/needs both a solver and a verifier/);
    expect(() => parseTrajectoryText('t,solverUncertainty,verifierUncertainty\n0,1,0.5\n', 'w.csv', { valueCol: 'v' })).toThrow(
      /--value-col is for the long format/,
    );
    expect(() => parseTrajectoryText('t,solverUncertainty,verifierUncertainty\n', 'e.csv')).toThrow(/e\.csv: no data rows/);
  });
});
