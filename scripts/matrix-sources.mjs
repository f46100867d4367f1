/**
 * The parts of scripts/fetch-matrices.mjs that touch no network: where a Debian source archive lives,
 * which Debian mirrors apt is configured with, and SuiteSparse's triplet files as Matrix Market.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's pool path of a source package's file: pool/main/<first letter, or libX for lib*>/<package>/<file>. */
export function poolPath(pkg, file) {
  return `pool/main/${pkg.startsWith('lib') ? pkg.slice(0, 4) : pkg[0]}/${pkg}/${file}`;
}

/** apt's source files: /etc/apt/sources.list and every .list / .sources file of sources.list.d. */
export function aptSourceFiles(etc = '/etc/apt') {
  const files = [join(etc, 'sources.list')];
  const dir = join(etc, 'sources.list.d');
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) if (/\.(list|sources)$/.test(f)) files.push(join(dir, f));
  return files.filter((f) => existsSync(f));
}

/**
 * The Debian main-archive roots named in apt's source files, one-line ("deb [opts] URI suite ...") and
 * deb822 ("URIs: ...") alike, in the order found. Only roots ending in /debian: the security archive
 * and third-party repositories carry no copy of Debian's source pool.
 */
export function debianMirrors(files) {
  const uris = new Set();
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^\s*(?:deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?|URIs:)\s*(\S+(?:\s+\S+)*)/.exec(line);
      if (!m) continue;
      // deb822 allows several URIs on one line; a one-line entry's first word is its URI.
      const words = line.trimStart().startsWith('URIs:') ? m[1].split(/\s+/) : [m[1].split(/\s+/)[0]];
      for (const u of words) if (/^https?:\/\/.*\/debian\/?$/.test(u)) uris.add(u.replace(/\/$/, ''));
    }
  }
  return [...uris];
}

/**
 * SuiteSparse's triplet files (CSparse's demo matrices: "i j value" per line, 0-based, the lower
 * triangle of a symmetric matrix) as a symmetric Matrix Market file, each value string kept as printed.
 * Throws unless every line is such a triplet and the order and entry count (both triangles) are `n`, `nnz`.
 */
export function tripletToMatrixMarket(text, { n, nnz, comment }) {
  const lines = [];
  let order = 0;
  let diagonal = 0;
  for (const raw of text.split('\n')) {
    const t = raw.trim();
    if (t === '') continue;
    const [si, sj, v, extra] = t.split(/\s+/);
    const i = Number(si);
    const j = Number(sj);
    if (extra !== undefined || v === undefined || !Number.isInteger(i) || !Number.isInteger(j) || j < 0 || i < j || !Number.isFinite(Number(v))) {
      throw new Error(`not a lower-triangle triplet line: "${t}"`);
    }
    order = Math.max(order, i + 1);
    if (i === j) diagonal++;
    lines.push(`${i + 1} ${j + 1} ${v}`);
  }
  const entries = 2 * lines.length - diagonal;
  if (order !== n || entries !== nnz) throw new Error(`order ${order} with ${entries} entries; expected ${n} and ${nnz}`);
  const header = comment ? `%${comment.split('\n').map((c) => ` ${c}`).join('\n%')}\n` : '';
  return `%%MatrixMarket matrix coordinate real symmetric\n${header}${n} ${n} ${lines.length}\n${lines.join('\n')}\n`;
}
