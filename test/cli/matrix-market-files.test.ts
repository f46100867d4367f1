/** Matrix Market as users have it: gzip, files read in chunks (as files past one JS string are), dense A, general A under CG. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseMatrixMarket, parseMatrixMarketChunks, readMatrixMarket, readMatrixMarketText } from '../../src/core/matrix-market.js';
import { poisson2d, writeMatrixMarket } from '../../src/index.js';

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const bin = join(import.meta.dirname, '..', '..', 'bin', 'numkern.js');
// Pinned to CPU backends: this file checks numkern's own messages, and a CPU-only run starts no GPU driver.
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--backend', 'native'], { encoding: 'utf8', timeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'numkern-mm-'));
const poissonText = writeMatrixMarket(poisson2d(10), { symmetric: true });
const plain = join(dir, 'poisson.mtx');
writeFileSync(plain, poissonText);
const gz = join(dir, 'poisson.mtx.gz');
writeFileSync(gz, gzipSync(poissonText));

describe('reading files', () => {
  it('a .mtx.gz file reads through zlib to the same matrix as the plain file', async () => {
    expect(await readMatrixMarket(gz)).toEqual(await readMatrixMarket(plain));
  });

  it('gzip is recognized by its magic bytes, whatever the name', async () => {
    const odd = join(dir, 'compressed.mtx');
    writeFileSync(odd, gzipSync(poissonText));
    expect(await readMatrixMarket(odd)).toEqual(parseMatrixMarket(poissonText));
  });

  it.each(['mm-general-real.mtx', 'mm-symmetric-real.mtx', 'mm-pattern.mtx', 'mm-skew-array.mtx', 'mm-integer-array.mtx'])(
    'streamed in small line-aligned chunks, %s parses exactly as the whole text does',
    async (name) => {
      const text = readFileSync(join(fixtures, name), 'utf8');
      const chunks = await readMatrixMarketText(join(fixtures, name), 16, 0);
      expect(chunks.length).toBeGreaterThan(1);
      expect(chunks.join('')).toBe(text);
      for (const c of chunks.slice(0, -1)) expect(c.endsWith('\n')).toBe(true);
      expect(parseMatrixMarketChunks(chunks)).toEqual(parseMatrixMarket(text));
      const z = join(dir, `${name}.gz`);
      writeFileSync(z, gzipSync(text));
      expect(parseMatrixMarketChunks(await readMatrixMarketText(z, 16))).toEqual(parseMatrixMarket(text));
      expect(await readMatrixMarket(z)).toEqual(parseMatrixMarket(text));
    },
  );

  it('a truncated or corrupt gzip file is E_IO naming the file', async () => {
    const bad = join(dir, 'bad.mtx.gz');
    writeFileSync(bad, gzipSync(poissonText).subarray(0, 40));
    await expect(readMatrixMarket(bad)).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining(bad) });
  });

  it('a gzip file whose text inflates past the limit is E_RANGE naming the file, as it streams', async () => {
    const bomb = join(dir, 'bomb.mtx.gz');
    writeFileSync(bomb, gzipSync(`%%MatrixMarket matrix coordinate real general\n${'%\n'.repeat(2_000_000)}1 1 1\n1 1 1\n`));
    await expect(readMatrixMarketText(bomb, 1 << 16, 0, 1_000_000)).rejects.toMatchObject({
      code: 'E_RANGE', argument: bomb, message: expect.stringMatching(/passes 1000000 characters \(inflated, half this machine's memory\)/),
    });
    expect((await readMatrixMarketText(bomb, 1 << 16, 0, 5_000_000)).join('').length).toBe(4_000_058);
  });

  it('errors in a streamed file still name the line', async () => {
    const z = join(dir, 'truncated.mtx.gz');
    writeFileSync(z, gzipSync(readFileSync(join(fixtures, 'mm-truncated.mtx'))));
    await expect(readMatrixMarket(z)).rejects.toMatchObject({ code: 'E_PARSE', message: expect.stringMatching(/line \d+/) });
  });
});

describe('numkern solve on such files', () => {
  it('solves a .mtx.gz file', () => {
    const r = run('solve', gz, '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 100, converged: true });
  });

  it('accepts a dense (array) A, as the README says', () => {
    const A = poisson2d(4);
    const dense = new Float64Array(16 * 16);
    for (let i = 0; i < 16; i++) for (let k = A.rowPtr[i]!; k < A.rowPtr[i + 1]!; k++) dense[i * 16 + A.colIdx[k]!] = A.values[k]!;
    const f = join(dir, 'dense.mtx');
    writeFileSync(f, writeMatrixMarket({ rows: 16, cols: 16, data: dense }));
    const r = run('solve', f, '--method', 'cg', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 16, nnz: A.colIdx.length, converged: true });
    expect(r.stderr).toBe('');
  });

  it('warns when CG gets an unsymmetric (general) matrix, and not when a general file holds a symmetric one', () => {
    const unsym = join(dir, 'unsym.mtx');
    writeFileSync(unsym, '%%MatrixMarket matrix coordinate real general\n3 3 5\n1 1 4\n2 2 4\n3 3 4\n1 2 1\n3 2 -1\n');
    const r = run('solve', unsym, '--method', 'cg', '--json');
    expect(r.stderr).toMatch(/warning: .*unsym\.mtx is a general \(unsymmetric\) matrix: cg needs a symmetric positive definite matrix/);
    expect((JSON.parse(r.stdout) as { warnings: string[] }).warnings).toHaveLength(1);
    expect(run('solve', unsym, '--method', 'sor', '--json').stderr).toBe('');
    const symGeneral = join(dir, 'sym-general.mtx');
    writeFileSync(symGeneral, writeMatrixMarket(poisson2d(5)));
    expect(readFileSync(symGeneral, 'utf8')).toMatch(/general/);
    expect(run('solve', symGeneral, '--method', 'ssor-cg', '--json').stderr).toBe('');
  });
});
