/** The `numkern` command: `info`, `bench`; the families add their own commands here. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createContext } from '../context.js';
import { NumkernError } from '../core/errors.js';
import { formatInfo } from './info.js';
import { DEMO_USAGE, demoCommand } from './demo.js';
import { LSTSQ_USAGE, lstsqCommand } from './lstsq.js';
import { SOLVE_USAGE, solveCommand } from './solve.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const USAGE = `usage: numkern <command> [options]

commands:
  info [--json]             every backend: available or why not, adapter, threads, BLAS, CUDA devices
  ${DEMO_USAGE.replace(/\n/g, '\n  ')}
  ${SOLVE_USAGE.replace(/\n/g, '\n  ')}
  ${LSTSQ_USAGE.replace(/\n/g, '\n  ')}
  bench [--suite a,b] [--quick]
                            machine ceilings, then the kernel suites as fractions of them
                            (writes bench/results/*.json)
  help                      this text
`;

/**
 * OpenBLAS picks its kernels from CPUID; in a VM that hides the model it falls back to generic SSE3
 * kernels (a quarter of the machine's FLOP/s), which would understate the GEMM ceiling. For the bench
 * only, name the AVX-512 kernels when the CPU has AVX-512 and the caller has not chosen a core type.
 */
function benchEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  try {
    if (!env.OPENBLAS_CORETYPE && /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))) env.OPENBLAS_CORETYPE = 'SkylakeX';
  } catch { /* no /proc: keep OpenBLAS's own choice */ }
  return env;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'info': {
        const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
        await using ctx = await createContext();
        const version = (createRequire(import.meta.url)(join(root, 'package.json')) as { version: string }).version;
        process.stdout.write(values.json ? `${JSON.stringify({ version, backends: ctx.status() }, null, 2)}\n` : formatInfo(version, ctx));
        return 0;
      }
      case 'demo': {
        await using ctx = await createContext();
        return await demoCommand(ctx, rest);
      }
      case 'solve': {
        await using ctx = await createContext();
        return await solveCommand(ctx, rest);
      }
      case 'lstsq': {
        await using ctx = await createContext();
        return await lstsqCommand(ctx, rest);
      }
      case 'bench': {
        // The bench is TypeScript run through tsx, a dev dependency: it is the package's own suite.
        const tsx = join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
        if (!existsSync(tsx)) {
          process.stderr.write('numkern bench: needs the dev dependencies (run `npm install` in a numkern checkout)\n');
          return 2;
        }
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), ...rest], { stdio: 'inherit', cwd: root, env: benchEnv() });
        return r.status ?? 1;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`numkern: unknown command '${command}'\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof NumkernError) {
      process.stderr.write(`numkern ${command}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`numkern ${command}: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
