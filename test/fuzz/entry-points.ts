/**
 * Property-based fuzzing of every public entry point (fast-check), run inside a child process by
 * ./run.ts so that a crash of the addon or the GPU driver is a test failure rather than the end of
 * the test runner. The property of every case: the call either completes with finite numbers in
 * the shapes promised, or rejects with a NumkernError — never another exception, never a hang.
 *
 * Inputs mix valid data with what hostile callers pass: NaN/±Inf, huge and subnormal values, f32/f64
 * mixes, detached and SharedArrayBuffer-backed arrays, broken CSR (pointers past nnz, decreasing,
 * columns out of range or unsorted), adversarial sizes, options of the wrong type or null.
 */
import fc from 'fast-check';
import type { Context } from '../../src/index.js';
import { NumkernError, parseMatrixMarket, poisson2d } from '../../src/index.js';
import type { BackendName, CsrMatrix, FloatArray } from '../../src/core/types.js';
import { isDetached } from '../../src/core/validate.js';
import { fuzzFamilies } from './families.js';

type Float = 'f32' | 'f64';

/** The first n elements (a detached array is passed on as it is: slicing it would throw here, not in numkern). */
const cut = (a: FloatArray, n: number): FloatArray => (isDetached(a) ? a : a.subarray(0, Math.min(n, a.length)));

const SPECIALS = [NaN, Infinity, -Infinity, 1e300, -1e300, 1e-310, 0, -0, 3.4e38, 1e151];

/**
 * A float array of length n: ordinary values, sometimes one special, sometimes a hostile backing. The
 * generated value is a recipe, materialized per call (`make`), so that fast-check can print a
 * counterexample (it cannot print a detached array) and every call gets a fresh array.
 */
interface ArraySpec {
  readonly make: () => FloatArray;
}

function floatArray(n: number, dtype: Float): fc.Arbitrary<ArraySpec> {
  return fc.tuple(
    fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: n, maxLength: n }),
    fc.option(fc.tuple(fc.nat(Math.max(0, n - 1)), fc.constantFrom(...SPECIALS)), { freq: 6 }),
    fc.constantFrom('plain', 'plain', 'plain', 'plain', 'shared', 'detached', 'offset'),
  ).map(([vals, special, backing]) => ({
    make: () => {
      const Ctor = dtype === 'f32' ? Float32Array : Float64Array;
      let a: FloatArray;
      if (backing === 'shared') a = new Ctor(new SharedArrayBuffer(n * Ctor.BYTES_PER_ELEMENT));
      else if (backing === 'offset') a = new Ctor(new ArrayBuffer((n + 3) * Ctor.BYTES_PER_ELEMENT), 2 * Ctor.BYTES_PER_ELEMENT, n);
      else a = new Ctor(n);
      a.set(vals);
      if (special && n > 0) a[special[0]] = special[1];
      if (backing === 'detached') structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
      return a;
    },
    [fc.toStringMethod]: () => `${dtype}[${n}] ${backing}${special ? ` with [${special[0]}] = ${special[1]}` : ''}`,
  }));
}

/** A small SPD-ish CSR (a shifted 2-D Laplacian) or one with a structural defect. */
function csr(dtype: Float): fc.Arbitrary<CsrMatrix> {
  return fc.tuple(
    fc.integer({ min: 1, max: 9 }),
    fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'rowPtrPastNnz', 'rowPtrDecreasing', 'hugeRowPtr', 'colOutOfRange', 'colNegative', 'colUnsorted', 'valuesShort', 'nan', 'huge', 'negDiag', 'zeroDiag', 'int32values'),
  ).map(([m, defect]) => {
    const P = poisson2d(m);
    const rowPtr = P.rowPtr.slice();
    const colIdx = P.colIdx.slice();
    let values: FloatArray = dtype === 'f32' ? Float32Array.from(P.values) : P.values.slice();
    const nnz = colIdx.length;
    const last = P.nrows;
    switch (defect) {
      case 'rowPtrPastNnz': rowPtr[Math.max(1, last - 1)] = nnz + 5; break;
      case 'rowPtrDecreasing': if (last > 1) rowPtr[1] = rowPtr[2]! + 1; else rowPtr[1] = -1; break;
      case 'hugeRowPtr': rowPtr[1] = 2 ** 31 - 1; break;
      case 'colOutOfRange': colIdx[nnz - 1] = P.ncols + 7; break;
      case 'colNegative': colIdx[0] = -3; break;
      case 'colUnsorted': if (rowPtr[1]! - rowPtr[0]! >= 2) [colIdx[0], colIdx[1]] = [colIdx[1]!, colIdx[0]!]; break;
      case 'valuesShort': values = values.subarray(0, Math.max(0, nnz - 1)); break;
      case 'nan': values[0] = NaN; break;
      case 'huge': values[0] = 1e300; break;
      case 'negDiag': values[0] = -values[0]!; break;
      case 'zeroDiag': values[0] = 0; break;
      case 'int32values': return { ...P, rowPtr, colIdx, values: Int32Array.from(P.values) as unknown as FloatArray };
    }
    return { nrows: P.nrows, ncols: P.ncols, rowPtr, colIdx, values };
  });
}

/** Options that make a runnable solve (bounded work: small maxIter). */
const goodOptions = fc.record(
  {
    method: fc.constantFrom('jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'jacobi-cg'),
    omega: fc.double({ min: 0.2, max: 1.95, noNaN: true }),
    tol: fc.constantFrom(1e-6, 1e-8, 0, 1e-14),
    criterion: fc.constantFrom('relative', 'absolute'),
    maxIter: fc.integer({ min: 0, max: 400 }),
    checkEvery: fc.integer({ min: 1, max: 7 }),
  },
  { requiredKeys: [] },
);

/** Options of the wrong type, null, out of range. */
const wildOptions = fc.record(
  {
    method: fc.constantFrom('jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'multigrid', null, 3),
    omega: fc.oneof(fc.double({ min: 0.2, max: 1.95, noNaN: true }), fc.constantFrom(0, 2, -1, NaN, null, '1.5')),
    tol: fc.oneof(fc.constantFrom(1e-6, 1e-8, 0, 1e-14, -1, NaN, null)),
    criterion: fc.constantFrom('relative', 'absolute', 'rel', null),
    maxIter: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(2.5, -1, null, 2 ** 40)),
    checkEvery: fc.oneof(fc.integer({ min: 1, max: 7 }), fc.constantFrom(0, null)),
    preconditioner: fc.constantFrom('none', 'ssor', 'jacobi', { kind: 'ssor', omega: 1.2 }, { kind: 'ilu' }, null),
    inPlace: fc.constantFrom(true, false, 'yes', null),
  },
  { requiredKeys: [] },
);

const solveOptions = fc.oneof({ weight: 3, arbitrary: goodOptions }, { weight: 1, arbitrary: wildOptions });

/** A length: usually the one the operator needs (-1), sometimes any. */
const lengthOrExact = fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(100) });

export interface FuzzReport {
  readonly backend: BackendName;
  readonly runs: number;
  readonly outcomes: Record<string, number>;
}

function finite(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (v instanceof Float32Array || v instanceof Float64Array) return v.every(Number.isFinite);
  return true;
}

/** Runs `call`: a NumkernError is an accepted outcome; anything else the property rejects. */
async function expectClean(what: string, call: () => Promise<unknown>, check: (v: never) => boolean, outcomes: Record<string, number>): Promise<void> {
  let value: unknown;
  try {
    value = await withTimeout(call(), 20_000, what);
  } catch (e) {
    if (e instanceof NumkernError) {
      outcomes[`${what} ${e.code}`] = (outcomes[`${what} ${e.code}`] ?? 0) + 1;
      return;
    }
    throw new Error(`${what}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} instead of a NumkernError`);
  }
  if (!check(value as never)) throw new Error(`${what}: returned non-finite or malformed output`);
  outcomes[`${what} ok`] = (outcomes[`${what} ok`] ?? 0) + 1;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function fuzzEntryPoints(ctx: Context, backend: BackendName, runs: number, seed: number): Promise<FuzzReport> {
  const outcomes: Record<string, number> = {};
  const pin = { backend };
  const dtype = fc.constantFrom<Float>('f32', 'f64');
  const params = { numRuns: runs, seed, endOnFailure: true } as const;

  await fc.assert(
    fc.asyncProperty(dtype.chain((d) => fc.tuple(csr(d), floatArray(100, d), lengthOrExact)), async ([A, xSpec, n]) => {
      const x = xSpec.make();
      const xs = cut(x, n < 0 ? A.ncols : n);
      // Finite inputs may overflow the dtype in IEEE arithmetic (as in any BLAS): only then may y hold ±Inf.
      const top = A.values instanceof Float32Array ? 3.4e38 : 1.7e308;
      const big = (a: ArrayLike<number>): number => (isDetached(a as FloatArray) ? 0 : Array.prototype.reduce.call(a, (m: number, v: number) => Math.max(m, Math.abs(v)), 0) as number);
      const mayOverflow = 5 * big(A.values) * big(xs) > top / 2;
      await expectClean('spmv', () => ctx.linalg.spmv(A, xs, pin), (y: FloatArray) => y.length === A.nrows && (finite(y) || mayOverflow), outcomes);
    }),
    params,
  );

  await fc.assert(
    fc.asyncProperty(dtype.chain((d) => fc.tuple(floatArray(64, d), floatArray(64, d), fc.nat(64), fc.double({ noNaN: false }))), async ([xSpec, ySpec, n, alpha]) => {
      const x = xSpec.make();
      const y = ySpec.make();
      const xs = cut(x, n);
      const ys = cut(y, xs.length);
      // Finite inputs may still overflow in IEEE arithmetic (as in any BLAS): only then may the output be ±Inf.
      const top = x instanceof Float32Array ? 3.4e38 : 1.7e308;
      const big = (a: FloatArray): number => (isDetached(a) ? 0 : a.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      const mayOverflow = (k: number): boolean => k * big(xs) * Math.max(big(ys), Math.abs(alpha), 1) > top / 2;
      await expectClean('dot', () => ctx.linalg.dot(xs, ys, pin), (v: number) => finite(v) || mayOverflow(xs.length), outcomes);
      await expectClean('nrm2', () => ctx.linalg.nrm2(xs, pin), finite, outcomes);
      await expectClean('axpy', () => ctx.linalg.axpy(alpha, xs, ys, pin), (v: FloatArray) => finite(v) || mayOverflow(2), outcomes);
    }),
    params,
  );

  await fc.assert(
    fc.asyncProperty(
      dtype.chain((d) => fc.tuple(floatArray(40, d), fc.array(fc.integer({ min: -3, max: 45 }), { maxLength: 8 }), fc.constantFrom(0, 1, 2, -1, 0.5))),
      async ([valuesSpec, cuts, ddof]) => {
        const values = valuesSpec.make();
        const offsets = Int32Array.from([0, ...cuts.sort((a, b) => a - b), values.length]);
        // Sums and squared deviations of values near the dtype's maximum overflow it in IEEE arithmetic.
        const top = values instanceof Float32Array ? 3.4e38 : 1.7e308;
        const big = isDetached(values) ? 0 : values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const mayOverflow = big * Math.max(big, values.length) > top / 4;
        await expectClean('segmentedMoments', () => ctx.linalg.segmentedMoments({ offsets, values }, { ...pin, ddof }), (m: { sum: FloatArray; mean: FloatArray; variance: FloatArray }) =>
          (finite(m.sum) && finite(m.mean) && finite(m.variance)) || mayOverflow, outcomes);
      },
    ),
    params,
  );

  await fc.assert(
    fc.asyncProperty(dtype.chain((d) => fc.tuple(csr(d), floatArray(81, d), fc.option(floatArray(81, d)), solveOptions, fc.boolean())), async ([A, bSpec, x0Spec, o, aliased]) => {
      const b = bSpec.make();
      const x0 = x0Spec?.make();
      const n = A.nrows;
      const bb = cut(b, n);
      const opts = { ...o, ...pin, x0: aliased ? bb : x0 && cut(x0, n) } as never;
      await expectClean('solve', () => ctx.relax.solve(A, bb, opts), (r: { x: FloatArray; residualNorm: number; initialResidualNorm: number; iterations: number }) =>
        r.x.length === n && finite(r.x) && finite(r.residualNorm) && finite(r.initialResidualNorm) && Number.isInteger(r.iterations), outcomes);
    }),
    { ...params, numRuns: Math.max(1, Math.floor(runs / 2)) },
  );

  await fc.assert(
    fc.asyncProperty(dtype.chain((d) => fc.tuple(fc.array(fc.tuple(csr(d), floatArray(81, d)), { maxLength: 3 }), solveOptions)), async ([systems, o]) => {
      const specs = systems.map(([A, bSpec]) => {
        const b = bSpec.make();
        return { A, b: cut(b, A.nrows) };
      });
      const { x0: _x0, inPlace: _ip, ...rest } = o as Record<string, unknown>;
      await expectClean('solveMany', () => ctx.relax.solveMany(specs, { ...rest, ...pin } as never), (rs: { x: FloatArray; residualNorm: number }[]) => rs.every((r) => finite(r.x) && finite(r.residualNorm)), outcomes);
    }),
    { ...params, numRuns: Math.max(1, Math.floor(runs / 4)) },
  );

  await fc.assert(
    fc.asyncProperty(dtype.chain((d) => fc.tuple(csr(d), floatArray(81, d))), async ([A, bSpec]) => {
      const b = bSpec.make();
      await expectClean('prepare', async () => {
        const P = ctx.relax.prepare(A);
        try {
          return await ctx.relax.solve(P, cut(b, A.nrows), { ...pin, method: 'cg', maxIter: 200 });
        } finally {
          P.dispose();
        }
      }, (r: { x: FloatArray; residualNorm: number }) => finite(r.x) && finite(r.residualNorm), outcomes);
    }),
    { ...params, numRuns: Math.max(1, Math.floor(runs / 4)) },
  );

  // Matrix Market text: valid files with one mutated byte, line or count.
  const valid = '%%MatrixMarket matrix coordinate real symmetric\n% c\n3 3 4\n1 1 4\n2 1 -1\n2 2 4\n3 3 4\n';
  await fc.assert(
    fc.asyncProperty(fc.nat(valid.length - 1), fc.constantFrom('', '-', 'e', ' ', '\n', '9', '0', 'nan', 'inf', '%', 'x', '99999999999'), async (at, ins) => {
      const text = valid.slice(0, at) + ins + valid.slice(at + 1);
      await expectClean('parseMatrixMarket', async () => parseMatrixMarket(text), () => true, outcomes);
    }),
    params,
  );

  await fuzzFamilies(ctx, backend, runs, seed, (what, call, check) => expectClean(what, call, check, outcomes));

  return { backend, runs, outcomes };
}
