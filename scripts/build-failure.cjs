// Shared by bindings/install.cjs (source build at install) and scripts/prebuilds.mjs: from a failed
// cmake-js log, the one line that explains the failure and what to install for it (Debian/Ubuntu names).
'use strict';

/** The line of a failed build that says why, and what to install for it (Debian/Ubuntu names). */
function explainBuildFailure(log) {
  const lines = log.split('\n');
  const rules = [
    [/No CMAKE_CXX_COMPILER could be found|CMAKE_CXX_COMPILER.*not found|g\+\+: not found|c\+\+: not found/i, 'a C++17 compiler: apt-get install g++ (or build-essential)'],
    [/cmake: not found|spawn cmake ENOENT|CMake is not installed|cmake.*command not found/i, 'CMake >= 3.18: apt-get install cmake'],
    [/CMake 3\.\d+ or higher is required/i, 'a newer CMake (>= 3.18)'],
    [/Could not find a package configuration file provided by "?Threads|Could NOT find Threads/i, 'the C library headers: apt-get install libc6-dev'],
    [/napi\.h: No such file|node_api\.h: No such file/i, 'the Node-API headers: npm install (node-addon-api, node-api-headers)'],
    [/fetch failed|ENOTFOUND|EAI_AGAIN/i, 'network access for cmake-js, or package.json "binary": {"napi_versions": [8]} (headers from node-api-headers)'],
    [/No space left on device/i, 'free disk space'],
    [/nvcc fatal|error: .*\.cu/i, 'a CUDA toolkit that supports sm_80/sm_90, or build without CUDA (npm run build:cpu)'],
  ];
  for (const [re, fix] of rules) {
    const line = lines.find((l) => re.test(l));
    if (line) return { line: line.trim(), fix };
  }
  const line = lines.find((l) => /\berror\b|CMake Error|fatal/i.test(l)) ?? lines.filter((l) => l.trim()).pop() ?? '';
  return { line: line.trim(), fix: 'see the full log' };
}

module.exports = { explainBuildFailure };
