#!/usr/bin/env node
// Launcher for the `numkern` command. It sets nothing up itself: the WebGPU backend finds a lavapipe
// fetched by `numkern setup webgpu` (or a checkout's .lavapipe/) in-process (src/setup/lavapipe.ts).
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
