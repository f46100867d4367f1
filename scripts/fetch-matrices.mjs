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
 * Offline (or with the collection unreachable) it fails with exit code 2 and says so.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

async function download(url) {
  let res;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
  } catch (e) {
    const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(e);
    console.error(`fetch-matrices: cannot reach ${url} (${why}). This machine looks offline or the collection is unreachable; ` +
      'the relax-real bench suite runs its generated matrices without these files.');
    process.exit(2);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return Buffer.from(await res.arrayBuffer());
}

let failed = 0;
for (const m of chosen) {
  const dir = join(dest, m.name);
  const mtx = join(dir, `${m.name}.mtx`);
  const expected = m.sha256 ?? recorded[m.name] ?? null;
  if (existsSync(mtx) && expected !== null) {
    console.log(`${m.name}: present (${mtx})`);
    continue;
  }
  const url = `${list.base}/${m.group}/${m.name}.tar.gz`;
  process.stdout.write(`${m.name}: ${url} ... `);
  const body = await download(url);
  const sum = createHash('sha256').update(body).digest('hex');
  if (expected !== null && sum !== expected) {
    console.log(`sha256 ${sum} does not match the recorded ${expected}: discarded`);
    failed++;
    continue;
  }
  const archive = join(dest, `${m.name}.tar.gz`);
  writeFileSync(archive, body);
  // The archive holds <name>/<name>.mtx (and, for some matrices, auxiliary files).
  const tar = spawnSync('tar', ['-xzf', archive, '-C', dest], { encoding: 'utf8' });
  rmSync(archive, { force: true });
  if (tar.status !== 0 || !existsSync(mtx)) {
    console.log(`could not unpack (${(tar.stderr || tar.error?.message || `no ${m.name}/${m.name}.mtx inside`).trim()})`);
    failed++;
    continue;
  }
  if (expected === null) {
    recorded[m.name] = sum;
    writeFileSync(recordFile, `${JSON.stringify(recorded, null, 2)}\n`);
    console.log(`ok, sha256 ${sum} recorded on first fetch (copy it into bench/matrices/suitesparse.json)`);
  } else {
    console.log(`ok, sha256 verified`);
  }
}
process.exit(failed > 0 ? 1 : 0);
