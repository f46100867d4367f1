/**
 * Unstructured P1 finite-element matrices, generated deterministically from a seed: stand-ins for the
 * real matrices a user brings (FEM Poisson, anisotropic 3-D diffusion), for the bench's real-matrix
 * suite and for tests that must not lean on grid structure.
 *
 * Mesh: the (m + 2)^d grid of the unit square/cube with every interior node moved by a Philox-random
 * offset of up to `jitter`·h per axis (h = 1/(m + 1)); in 2-D each cell is cut along a random diagonal
 * (so node degrees vary from 4 to 8 and rows hold 5–9 entries), in 3-D each cube is cut into the six
 * Kuhn tetrahedra around its main diagonal (a conforming mesh for any jitter). With jitter < 1/2 no
 * element inverts (two nodes move toward each other by < h).
 * Matrix: the P1 stiffness matrix of −∇·(K∇u) (Braess, Finite Elements, §II.8: K_e = |e|·G K Gᵀ with G
 * the barycentric gradients), Dirichlet nodes eliminated, so it is SPD; κ per element is log-uniform in
 * [1, contrast]. Unknowns are numbered along a Z-order (Morton) curve of the grid, as mesh generators
 * number for locality: the profile is not banded, and no row pattern is a grid stencil's.
 * Assembly goes through csrFromCoo in element order, and each element adds (i, j) and (j, i) with
 * the same value, so the matrix is exactly symmetric.
 */
import { fail } from '../core/errors.js';
import { csrFromCoo } from '../core/matrix-market.js';
import { uniformFill } from '../core/philox.js';
import type { CsrMatrix } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange } from '../core/validate.js';

export interface FemOptions {
  /** Philox seed of the mesh and the coefficients (default 1). */
  seed?: number;
  /** Largest node offset per axis, in units of h (0 ≤ jitter < 0.5; default 0.3). */
  jitter?: number;
  /** κ per element is log-uniform in [1, contrast] (default 1: the Laplacian). */
  contrast?: number;
}

export interface Fem3dOptions extends FemOptions {
  /**
   * The diffusion tensor's eigenvalues are (1, 1, epsilon) about an axis tilted off the grid (default
   * 0.01; 1 gives the isotropic Laplacian). A tilted tensor makes some couplings positive.
   */
  epsilon?: number;
}

interface Resolved {
  seed: number;
  jitter: number;
  contrast: number;
}

function resolve(o: FemOptions | undefined): Resolved {
  const seed = o?.seed === undefined ? 1 : checkIntegerInRange(o.seed, 0, 2 ** 53 - 1, 'options.seed');
  const jitter = o?.jitter === undefined ? 0.3 : checkFiniteNumber(o.jitter, 'options.jitter');
  if (!(jitter >= 0 && jitter < 0.5)) fail('E_RANGE', 'options.jitter', `must satisfy 0 ≤ jitter < 0.5, got ${jitter}`);
  const contrast = o?.contrast === undefined ? 1 : checkFiniteNumber(o.contrast, 'options.contrast');
  if (!(contrast >= 1)) fail('E_RANGE', 'options.contrast', `must be ≥ 1, got ${contrast}`);
  return { seed, jitter, contrast };
}

/** Spreads the low 16 bits of v to every `stride`-th bit (Morton interleave). */
function spread(v: number, stride: number): number {
  let out = 0;
  for (let b = 0; b < 16; b++) if (v & (1 << b)) out += 2 ** (b * stride);
  return out;
}

/**
 * Unknown numbers for the interior nodes of an m^d grid, in Z-order of their grid indices;
 * -1 for the boundary nodes of the (m + 2)^d grid. Index of grid node (i, j[, k]) is i + M j (+ M² k).
 */
function numbering(m: number, dim: 2 | 3): Int32Array {
  const M = m + 2;
  const total = M ** dim;
  const id = new Int32Array(total).fill(-1);
  const keys: number[] = [];
  const nodes: number[] = [];
  for (let g = 0; g < total; g++) {
    const i = g % M;
    const j = Math.floor(g / M) % M;
    const k = dim === 3 ? Math.floor(g / (M * M)) : 1;
    if (i === 0 || j === 0 || k === 0 || i === M - 1 || j === M - 1 || k === M - 1) continue;
    keys.push(spread(i - 1, dim) + 2 * spread(j - 1, dim) + (dim === 3 ? 4 * spread(k - 1, dim) : 0));
    nodes.push(g);
  }
  const order = nodes.map((_, t) => t).sort((a, b) => keys[a]! - keys[b]!);
  order.forEach((t, u) => (id[nodes[t]!] = u));
  return id;
}

/** Jittered coordinates of the (m + 2)^dim grid (boundary nodes stay on the boundary). */
function coordinates(m: number, dim: 2 | 3, r: Resolved): Float64Array {
  const M = m + 2;
  const total = M ** dim;
  const h = 1 / (m + 1);
  const u = uniformFill(r.seed, 0, 0, new Float64Array(total * dim));
  const xyz = new Float64Array(total * dim);
  for (let g = 0; g < total; g++) {
    const idx = [g % M, Math.floor(g / M) % M, Math.floor(g / (M * M))];
    for (let a = 0; a < dim; a++) {
      const onBoundary = idx.slice(0, dim).some((v) => v === 0 || v === M - 1);
      xyz[g * dim + a] = idx[a]! * h + (onBoundary ? 0 : (2 * u[g * dim + a]! - 1) * r.jitter * h);
    }
  }
  return xyz;
}

class Triplets {
  rows: number[] = [];
  cols: number[] = [];
  vals: number[] = [];
  add(i: number, j: number, v: number): void {
    this.rows.push(i);
    this.cols.push(j);
    this.vals.push(v);
  }
  csr(n: number): CsrMatrix<Float64Array> {
    return csrFromCoo(n, n, Int32Array.from(this.rows), Int32Array.from(this.cols), Float64Array.from(this.vals));
  }
}

/** Adds an element's stiffness K_e[a][b] over its nodes (Dirichlet ones dropped), in element order. */
function scatter(t: Triplets, id: Int32Array, nodes: readonly number[], ke: (a: number, b: number) => number): void {
  for (let a = 0; a < nodes.length; a++) {
    const i = id[nodes[a]!]!;
    if (i < 0) continue;
    t.add(i, i, ke(a, a));
    for (let b = a + 1; b < nodes.length; b++) {
      const j = id[nodes[b]!]!;
      if (j < 0) continue;
      const v = ke(a, b);
      t.add(i, j, v);
      t.add(j, i, v);
    }
  }
}

/** κ of element e: log-uniform in [1, contrast]. */
function kappa(r: Resolved, u: Float64Array, e: number): number {
  return r.contrast === 1 ? 1 : Math.exp(u[e]! * Math.log(r.contrast));
}

/** P1 stiffness of −∇·(κ∇u) on a jittered, randomly cut triangulation of the unit square; n = m². */
export function femPoisson2d(m: number, options?: FemOptions): CsrMatrix<Float64Array> {
  checkIntegerInRange(m, 1, 2000, 'm');
  const r = resolve(options);
  const M = m + 2;
  const id = numbering(m, 2);
  const xy = coordinates(m, 2, r);
  const cells = (M - 1) * (M - 1);
  const cut = uniformFill(r.seed, 1, 0, new Float64Array(cells));
  const kap = uniformFill(r.seed, 2, 0, new Float64Array(2 * cells));
  const t = new Triplets();
  const triangle = (e: number, tri: number[]) => {
    const [p, q, s] = tri.map((g) => [xy[2 * g]!, xy[2 * g + 1]!]) as [number[], number[], number[]];
    // b_a, c_a: the barycentric gradients times 2|e| (y and x differences of the opposite edge).
    const bx = [q[1]! - s[1]!, s[1]! - p[1]!, p[1]! - q[1]!];
    const cy = [s[0]! - q[0]!, p[0]! - s[0]!, q[0]! - p[0]!];
    const area2 = Math.abs(bx[0]! * cy[1]! - bx[1]! * cy[0]!);
    const k = kappa(r, kap, e) / (2 * area2);
    scatter(t, id, tri, (a, b) => k * (bx[a]! * bx[b]! + cy[a]! * cy[b]!));
  };
  for (let j = 0; j < M - 1; j++) {
    for (let i = 0; i < M - 1; i++) {
      const c = i + (M - 1) * j;
      const g00 = i + M * j;
      const [g10, g01, g11] = [g00 + 1, g00 + M, g00 + M + 1];
      if (cut[c]! < 0.5) {
        triangle(2 * c, [g00, g10, g11]);
        triangle(2 * c + 1, [g00, g11, g01]);
      } else {
        triangle(2 * c, [g00, g10, g01]);
        triangle(2 * c + 1, [g10, g11, g01]);
      }
    }
  }
  return t.csr(m * m);
}

/** The diffusion tensor R diag(1, 1, ε) Rᵀ, R a rotation by 30° about x then 20° about z. */
function tensor(epsilon: number): number[][] {
  const [a, b] = [Math.PI / 6, Math.PI / 9];
  const rx = [[1, 0, 0], [0, Math.cos(a), -Math.sin(a)], [0, Math.sin(a), Math.cos(a)]];
  const rz = [[Math.cos(b), -Math.sin(b), 0], [Math.sin(b), Math.cos(b), 0], [0, 0, 1]];
  const R = rz.map((row) => [0, 1, 2].map((c) => row.reduce((s, v, k) => s + v * rx[k]![c]!, 0)));
  const d = [1, 1, epsilon];
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => R[i]!.reduce((s, v, k) => s + v * d[k]! * R[j]![k]!, 0)));
}

/** Inverse-transpose rows of the 3×3 edge matrix: the gradients of barycentric coordinates 1..3 (0 is minus their sum). */
function gradients(P: number[][]): { G: number[][]; vol: number } {
  const e = [1, 2, 3].map((v) => [0, 1, 2].map((a) => P[v]![a]! - P[0]![a]!)) as [number[], number[], number[]];
  const cross = (u: number[], w: number[]) => [u[1]! * w[2]! - u[2]! * w[1]!, u[2]! * w[0]! - u[0]! * w[2]!, u[0]! * w[1]! - u[1]! * w[0]!];
  const c0 = cross(e[1], e[2]);
  const det = e[0].reduce((s, v, k) => s + v * c0[k]!, 0);
  // ∇λ_1 = (e2 × e3)/det, ∇λ_2 = (e3 × e1)/det, ∇λ_3 = (e1 × e2)/det.
  const g = [c0, cross(e[2], e[0]), cross(e[0], e[1])].map((c) => c.map((v) => v / det));
  const g0 = [0, 1, 2].map((a) => -(g[0]![a]! + g[1]![a]! + g[2]![a]!));
  return { G: [g0, ...g], vol: Math.abs(det) / 6 };
}

/**
 * P1 stiffness of −∇·(κK∇u), K anisotropic (eigenvalues 1, 1, ε about a tilted axis), on a jittered
 * Kuhn tetrahedralization of the unit cube; n = m³.
 */
export function femAnisotropic3d(m: number, options?: Fem3dOptions): CsrMatrix<Float64Array> {
  checkIntegerInRange(m, 1, 150, 'm');
  const r = resolve(options);
  const epsilon = options?.epsilon === undefined ? 0.01 : checkFiniteNumber(options.epsilon, 'options.epsilon');
  if (!(epsilon > 0 && epsilon <= 1)) fail('E_RANGE', 'options.epsilon', `must satisfy 0 < ε ≤ 1, got ${epsilon}`);
  const K = tensor(epsilon);
  const M = m + 2;
  const id = numbering(m, 3);
  const xyz = coordinates(m, 3, r);
  const cubes = (M - 1) ** 3;
  const kap = uniformFill(r.seed, 2, 0, new Float64Array(6 * cubes));
  const t = new Triplets();
  // The six Kuhn tetrahedra of a cube: paths from corner 0 to corner 7 along the axes in every order.
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  const bit = [1, M, M * M];
  for (let k = 0, c = 0; k < M - 1; k++) {
    for (let j = 0; j < M - 1; j++) {
      for (let i = 0; i < M - 1; i++, c++) {
        const g0 = i + M * j + M * M * k;
        perms.forEach((perm, s) => {
          const tet = [g0];
          for (const a of perm) tet.push(tet[tet.length - 1]! + bit[a]!);
          const P = tet.map((g) => [xyz[3 * g]!, xyz[3 * g + 1]!, xyz[3 * g + 2]!]);
          const { G, vol } = gradients(P);
          const w = vol * kappa(r, kap, 6 * c + s);
          const KG = G.map((ga) => [0, 1, 2].map((x) => K[x]!.reduce((acc, v, y) => acc + v * ga[y]!, 0)));
          scatter(t, id, tet, (a, b) => w * G[b]!.reduce((acc, v, x) => acc + v * KG[a]![x]!, 0));
        });
      }
    }
  }
  return t.csr(m * m * m);
}
