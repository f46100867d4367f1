/**
 * The environment a Python peer runs in: this process's, minus OPENBLAS_CORETYPE. The bench names
 * OpenBLAS kernels for numkern's own GEMM probe (src/cli/main.ts), and some machines set the variable
 * globally; numpy/scipy must pick their kernels as they would for a user (docs/peers.md: "unset it in
 * the peer's command alone when measuring numpy").
 */
export function peerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.OPENBLAS_CORETYPE;
  return env;
}
