#!/usr/bin/env node
/**
 * Downloads the public SPD matrices of bench/matrices/suitesparse.json (SuiteSparse Matrix Collection,
 * Matrix Market archives) into bench/matrices/suitesparse/<name>/<name>.mtx, git-ignored, for the
 * relax-real bench suite (which skips absent files with a note and runs its generated matrices anyway).
 *
 *   node scripts/fetch-matrices.mjs [name ...]      (default: every matrix of the list)
 *
 * Checksums: an archive whose sha256 is in the list must match it, or it is deleted and the script
 * fails. The list's null entries have never been downloaded by the project (it was written offline), so
 * nothing is invented: the first successful fetch records the archive's sha256 in
 * bench/matrices/suitesparse/checksums.json (trust on first use), later fetches are held to it, and the
 * script prints the sums so that they can be copied into suitesparse.json.
 *
 * Where the collection cannot be reached, a matrix with a `debianSource` is taken from SuiteSparse's own
 * source distribution as Debian archives it (pool/main/<p>/<package>/<file> on the Debian mirrors this
 * machine's apt is configured with; NUMKERN_DEBIAN_MIRROR names another): the archive must match the
 * sha256 Debian's signed .dsc publishes, the member its own recorded sum, and the member's triplets
 * (0-based "i j value", lower triangle, the values as printed there) are written out as a symmetric
 * Matrix Market file, the value strings unchanged.
 * A matrix reachable nowhere makes the script exit with code 2 and say so.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptSourceFiles, debianMirrors, poolPath, tripletToMatrixMarket } from './matrix-sources.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const listFile = join(root, 'bench', 'matrices', 'suitesparse.json');
const dest = join(root, 'bench', 'matrices', 'suitesparse');
const recordFile = join(dest, 'checksums.json');

const list = JSON.parse(readFileSync(listFile, 'utf8'));
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !list.matrices.some((m) => m.name === w));
if (unknown.length > 0) {
  console.error(`fetch-matrices: not in ${listFile}: ${unknown.join(', ')}`);
  process.exit(1);
}
const chosen = list.matrices.filter((m) => wanted.length === 0 || wanted.includes(m.name));
mkdirSync(dest, { recursive: true });
const recorded = existsSync(recordFile) ? JSON.parse(readFileSync(recordFile, 'utf8')) : {};
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** The body, or null with the reason printed when the host cannot be reached or has no such file. */
async function download(url) {
  let res;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    console.log(`cannot reach ${url} (${e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e)})`);
    return null;
  }
  if (!res.ok) {
    console.log(`${url}: HTTP ${res.status} ${res.statusText}`);
    return null;
  }
  return Buffer.from(await res.arrayBuffer());
}

/** The Debian source archives already downloaded in this run (several members may share one). */
const archives = new Map();

async function fromDebian(m, mtx) {
  const s = m.debianSource;
  let archive = archives.get(s.file);
  if (!archive) {
    const mirrors = process.env.NUMKERN_DEBIAN_MIRROR ? [process.env.NUMKERN_DEBIAN_MIRROR] : debianMirrors(aptSourceFiles());
    for (const mirror of mirrors) {
      const url = `${mirror.replace(/\/$/, '')}/${poolPath(s.package, s.file)}`;
      process.stdout.write(`${m.name}: ${url} ... `);
      const body = await download(url);
      if (body === null) continue;
      if (sha256(body) !== s.sha256) {
        console.log(`sha256 ${sha256(body)} is not the ${s.sha256} Debian publishes: discarded`);
        continue;
      }
      archive = join(mkdtempSync(join(tmpdir(), 'numkern-ss-')), s.file);
      writeFileSync(archive, body);
      archives.set(s.file, archive);
      console.log('sha256 verified');
      break;
    }
    if (!archive) return 'unreachable';
  }
  const tar = spawnSync('tar', ['-xOf', archive, s.member], { maxBuffer: 1 << 30 });
  if (tar.status !== 0) {
    console.log(`${m.name}: could not unpack ${s.member} (${(tar.stderr?.toString() || tar.error?.message || '').trim()})`);
    return 'failed';
  }
  if (sha256(tar.stdout) !== s.memberSha256) {
    console.log(`${m.name}: ${s.member} has sha256 ${sha256(tar.stdout)}, the list records ${s.memberSha256}: discarded`);
    return 'failed';
  }
  const comment = `${m.group}/${m.name}: ${s.member} of Debian's ${s.file} (sha256 ${s.sha256})`;
  let text;
  try {
    text = tripletToMatrixMarket(tar.stdout.toString('utf8'), { n: m.n, nnz: m.nnz, comment });
  } catch (e) {
    console.log(`${m.name}: ${s.member}: ${e.message}`);
    return 'failed';
  }
  mkdirSync(dirname(mtx), { recursive: true });
  writeFileSync(mtx, text);
  console.log(`${m.name}: written from Debian's SuiteSparse source (${s.member}, sha256 verified)`);
  return 'ok';
}

async function fromCollection(m, mtx, expected) {
  const url = `${list.base}/${m.group}/${m.name}.tar.gz`;
  process.stdout.write(`${m.name}: ${url} ... `);
  const body = await download(url);
  if (body === null) return 'unreachable';
  const sum = sha256(body);
  if (expected !== null && sum !== expected) {
    console.log(`sha256 ${sum} does not match the recorded ${expected}: discarded`);
    return 'failed';
  }
  const archive = join(dest, `${m.name}.tar.gz`);
  writeFileSync(archive, body);
  // The archive holds <name>/<name>.mtx (and, for some matrices, auxiliary files).
  const tar = spawnSync('tar', ['-xzf', archive, '-C', dest], { encoding: 'utf8' });
  rmSync(archive, { force: true });
  if (tar.status !== 0 || !existsSync(mtx)) {
    console.log(`could not unpack (${(tar.stderr || tar.error?.message || `no ${m.name}/${m.name}.mtx inside`).trim()})`);
    return 'failed';
  }
  if (expected === null) {
    recorded[m.name] = sum;
    writeFileSync(recordFile, `${JSON.stringify(recorded, null, 2)}\n`);
    console.log(`ok, sha256 ${sum} recorded on first fetch (copy it into bench/matrices/suitesparse.json)`);
  } else {
    console.log('ok, sha256 verified');
  }
  return 'ok';
}

const outcome = { ok: 0, failed: 0, unreachable: [] };
for (const m of chosen) {
  const mtx = join(dest, m.name, `${m.name}.mtx`);
  const expected = m.sha256 ?? recorded[m.name] ?? null;
  if (existsSync(mtx) && (expected !== null || m.debianSource)) {
    console.log(`${m.name}: present (${mtx})`);
    continue;
  }
  let r = await fromCollection(m, mtx, expected);
  if (r === 'unreachable' && m.debianSource) r = await fromDebian(m, mtx);
  if (r === 'unreachable') outcome.unreachable.push(m.name);
  else outcome[r]++;
}
for (const a of archives.values()) rmSync(dirname(a), { recursive: true, force: true });
if (outcome.unreachable.length > 0) {
  console.error(`fetch-matrices: not reachable from this machine: ${outcome.unreachable.join(', ')} ` +
    '(the collection is offline or blocked here); the relax-real bench suite runs without them.');
}
process.exit(outcome.failed > 0 ? 1 : outcome.unreachable.length > 0 ? 2 : 0);
