/** The `numkern` command: `info`, `bench`, `setup`; the families add their own commands here. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadNative } from '../backends/addon/load.js';
import { onlySoftwareVulkan } from '../backends/webgpu/adapter.js';
import { createContext, type Context } from '../context.js';
import { NumkernError } from '../core/errors.js';
import type { BackendName } from '../core/types.js';
import { DEMO_OPTIONS, DEMO_USAGE, demoCommand } from './demo.js';
import { formatInfo, infoJson, INFO_OPTIONS, INFO_USAGE } from './info.js';
import { LSTSQ_OPTIONS, LSTSQ_USAGE, lstsqCommand } from './lstsq.js';
import { SETUP_OPTIONS, SETUP_USAGE, setupCommand } from './setup.js';
import { SOLVE_OPTIONS, SOLVE_USAGE, solveCommand } from './solve.js';
import { closest } from './suggest.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

type Options = NonNullable<ParseArgsConfig['options']>;

const BENCH_USAGE = `bench [--suite a,b] [--quick] [--backends native,js]
                            machine ceilings, then the kernel suites as fractions of them
                            (writes bench/results/*.json; needs a checkout with dev dependencies)`;
const BENCH_OPTIONS = { suite: { type: 'string' }, quick: { type: 'boolean' }, backends: { type: 'string' } } as const satisfies Options;

interface Command {
  readonly usage: string;
  readonly options: Options;
  /** Takes a context (when it needs one) made for the backends its --backend allows. */
  readonly run: (args: string[]) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  // info reports every backend, so it opens every one.
  info: { usage: INFO_USAGE, options: INFO_OPTIONS, run: (args) => withContext(undefined, (ctx) => infoCommand(ctx, args)) },
  demo: { usage: DEMO_USAGE, options: DEMO_OPTIONS, run: (args) => withContext(backendsFor(args), (ctx) => demoCommand(ctx, args)) },
  solve: { usage: SOLVE_USAGE, options: SOLVE_OPTIONS, run: (args) => withContext(backendsFor(args), (ctx) => solveCommand(ctx, args)) },
  lstsq: { usage: LSTSQ_USAGE, options: LSTSQ_OPTIONS, run: (args) => withContext(backendsFor(args), (ctx) => lstsqCommand(ctx, args)) },
  setup: { usage: SETUP_USAGE, options: SETUP_OPTIONS, run: (args) => setupCommand(args) },
  bench: { usage: BENCH_USAGE, options: BENCH_OPTIONS, run: benchCommand },
};

export const EXIT_CODES = `exit codes:
  0  success
  1  bad input or a failed run (the message names the argument and carries an E_* code)
  2  usage error: unknown command or option, missing argument
  3  solve/lstsq ran but did not converge (the result is still printed)`;

const indent = (s: string) => s.replace(/\n/g, '\n  ');

function usage(): string {
  return `usage: numkern <command> [options]      numkern help <command>      numkern --version

commands:
${Object.values(COMMANDS).map((c) => `  ${indent(c.usage)}`).join('\n')}
  help [command]            this text, or one command's

every command takes --help. Environment: NUMKERN_BACKENDS=native,js limits the backends;
NUMKERN_NATIVE_PATH names the addon file; NUMKERN_NO_LAVAPIPE=1 ignores a fetched lavapipe.

${EXIT_CODES}
`;
}

function commandHelp(name: string): string {
  return `usage: numkern ${COMMANDS[name]!.usage}\n\n${EXIT_CODES}\n`;
}

function version(): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The backends a command may use, so that no other one is initialized (a backend's start-up is not
 * free, and Dawn prints on stderr when it opens a Vulkan driver). A pinned CPU backend never needs a
 * GPU one; a fallback from native goes to js. Under auto, a WebGPU adapter that can only be a CPU
 * rasterizer (lavapipe) ranks below native (docs/ARCHITECTURE.md §5), so with the addon loaded it is
 * left out too; `--backend webgpu` still gets it.
 */
export function backendsFor(args: readonly string[]): BackendName[] | undefined {
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') break;
    if (args[i] === '--backend') value = args[i + 1];
    else if (args[i]!.startsWith('--backend=')) value = args[i]!.slice('--backend='.length);
  }
  if (value === 'js') return ['js'];
  if (value === 'native') return ['native', 'js'];
  if (value === 'cuda') return ['cuda', 'native', 'js'];
  if ((value === undefined || value === 'auto') && loadNative().addon && onlySoftwareVulkan()) return ['cuda', 'native', 'js'];
  return undefined;
}

async function withContext(backends: BackendName[] | undefined, body: (ctx: Context) => Promise<number>): Promise<number> {
  const ctx = await createContext(backends ? { backends } : undefined);
  try {
    return await body(ctx);
  } finally {
    await ctx.dispose();
  }
}

async function infoCommand(ctx: Context, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: INFO_OPTIONS });
  await ctx.start(); // info reports every backend, including those a default context starts at first use
  process.stdout.write(values.json ? `${JSON.stringify(infoJson(version(), ctx), null, 2)}\n` : formatInfo(version(), ctx));
  return 0;
}

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

async function benchCommand(args: string[]): Promise<number> {
  parseArgs({ args, options: BENCH_OPTIONS });
  // The bench is TypeScript run through tsx, a dev dependency: it is the package's own suite.
  const tsx = join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
  if (!existsSync(tsx)) {
    process.stderr.write('numkern bench: needs the dev dependencies (run `npm install` in a numkern checkout)\n');
    return 2;
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), ...args], { stdio: 'inherit', cwd: root, env: benchEnv() });
  return r.status ?? 1;
}

/** "did you mean" for an unknown option, from the command's own option list. */
function optionHint(message: string, options: Options): string {
  const bad = /Unknown option '(-{1,2}[^'=]+)/.exec(message)?.[1];
  if (!bad) return '';
  const names = Object.keys(options).map((o) => `--${o}`).concat('--help');
  const best = closest(bad, names);
  return best ? `; did you mean ${best}?` : `; options: ${names.join(' ')}`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    const topic = command === 'help' ? rest[0] : undefined;
    if (topic !== undefined && COMMANDS[topic]) {
      process.stdout.write(commandHelp(topic));
      return 0;
    }
    if (topic !== undefined) {
      const best = closest(topic, Object.keys(COMMANDS));
      process.stderr.write(`numkern help: no command '${topic}'${best ? `; did you mean '${best}'?` : ''}\n`);
      return 2;
    }
    process.stdout.write(usage());
    return command === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    const best = closest(command, Object.keys(COMMANDS));
    process.stderr.write(`numkern: unknown command '${command}'${best ? `; did you mean '${best}'?` : ''}\nrun 'numkern help' for the list\n`);
    return 2;
  }
  // --help wins wherever it stands before a `--`, as in most CLIs.
  const dash = rest.indexOf('--');
  if ((dash < 0 ? rest : rest.slice(0, dash)).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    // Options are checked before anything starts (no backend is initialized for a mistyped flag).
    parseArgs({ args: rest, options: cmd.options, allowPositionals: true });
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof NumkernError) {
      process.stderr.write(`numkern ${command}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`numkern ${command}: ${e.message.split('. To specify')[0]}${optionHint(e.message, cmd.options)}\nusage: numkern ${cmd.usage}\n`);
      return 2;
    }
    throw e;
  }
}
