/**
 * scripts/matrix-sources.mjs: the network-free parts of the bench's matrix fetcher — Debian pool paths,
 * the mirrors apt names, and SuiteSparse's lower-triangle triplet files written as Matrix Market.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMatrixMarket } from '../../src/core/matrix-market.js';

const root = join(import.meta.dirname, '..', '..');
const sources = (await import(join(root, 'scripts', 'matrix-sources.mjs'))) as {
  poolPath(pkg: string, file: string): string;
  aptSourceFiles(etc?: string): string[];
  debianMirrors(files: string[]): string[];
  tripletToMatrixMarket(text: string, m: { n: number; nnz: number; comment?: string }): string;
};

describe('Debian source archives', () => {
  it('pool paths use the first letter, or libX for lib* packages', () => {
    expect(sources.poolPath('suitesparse', 'a.tar.xz')).toBe('pool/main/s/suitesparse/a.tar.xz');
    expect(sources.poolPath('libeigen3', 'b.tar.xz')).toBe('pool/main/libe/libeigen3/b.tar.xz');
  });

  it("finds the main archive's mirrors in one-line and deb822 files, not security or third-party ones", () => {
    const etc = mkdtempSync(join(tmpdir(), 'numkern-apt-'));
    mkdirSync(join(etc, 'sources.list.d'));
    writeFileSync(join(etc, 'sources.list'), '# deb http://commented.example/debian bookworm main\ndeb [arch=amd64] http://one.example/debian/ bookworm main\n');
    writeFileSync(join(etc, 'sources.list.d', 'debian.sources'),
      'Types: deb\nURIs: http://two.example/debian http://three.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://two.example/debian-security\n');
    writeFileSync(join(etc, 'sources.list.d', 'vendor.list'), 'deb https://vendor.example/apt stable main\n');
    writeFileSync(join(etc, 'sources.list.d', 'ignored.txt'), 'deb http://four.example/debian bookworm main\n');
    const files = sources.aptSourceFiles(etc);
    expect(files).toHaveLength(3);
    expect(sources.debianMirrors(files)).toEqual(['http://one.example/debian', 'http://two.example/debian', 'http://three.example/debian']);
  });
});

describe('SuiteSparse triplet files as Matrix Market', () => {
  // A 3×3 SPD matrix's lower triangle, 0-based, with the value strings as CSparse prints them.
  const triplets = '0 0 4.5\n1 0 -1.25e-3\n1 1 285559874.9195\n2 1 -2\n2 2 3\n';

  it('keeps every value string and mirrors the triangle when read back', () => {
    const text = sources.tripletToMatrixMarket(triplets, { n: 3, nnz: 7, comment: 'test: a 3×3 matrix' });
    expect(text.split('\n').slice(0, 4)).toEqual(['%%MatrixMarket matrix coordinate real symmetric', '% test: a 3×3 matrix', '3 3 5', '1 1 4.5']);
    expect(text).toContain('2 1 -1.25e-3\n');
    const d = parseMatrixMarket(text);
    if (d.kind !== 'coordinate') throw new Error('expected a coordinate matrix');
    const A = d.matrix;
    const dense = Array.from({ length: 9 }, () => 0);
    for (let i = 0; i < 3; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) dense[3 * i + A.colIdx[p]!] = A.values[p]!;
    expect(dense).toEqual([4.5, -1.25e-3, 0, -1.25e-3, 285559874.9195, -2, 0, -2, 3]);
  });

  it.each([
    ['an upper-triangle entry', '0 0 1\n0 1 2\n1 1 3\n'],
    ['a fourth column', '0 0 1 7\n1 1 3\n'],
    ['a non-numeric value', '0 0 1\n1 1 x\n'],
    ['a negative index', '0 0 1\n1 -1 2\n1 1 3\n'],
  ])('refuses %s', (_what, text) => {
    expect(() => sources.tripletToMatrixMarket(text, { n: 2, nnz: 3 })).toThrow(/not a lower-triangle triplet line/);
  });

  it('refuses an order or entry count other than the list says', () => {
    expect(() => sources.tripletToMatrixMarket(triplets, { n: 4, nnz: 7 })).toThrow(/order 3 with 7 entries; expected 4 and 7/);
    expect(() => sources.tripletToMatrixMarket(triplets, { n: 3, nnz: 9 })).toThrow(/expected 3 and 9/);
  });

  it("every debianSource in the bench's list names a package, an archive and a member with their sha256", () => {
    const list = JSON.parse(readFileSync(join(root, 'bench', 'matrices', 'suitesparse.json'), 'utf8')) as {
      matrices: { name: string; n: number; nnz: number; debianSource?: Record<string, string> }[];
    };
    const withSource = list.matrices.filter((m) => m.debianSource);
    expect(withSource.length).toBeGreaterThan(0);
    for (const m of withSource) {
      const s = m.debianSource!;
      expect(s.package).toMatch(/^[a-z0-9][a-z0-9.+-]+$/);
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.memberSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.member.endsWith(`/${m.name}`)).toBe(true);
    }
  });
});
