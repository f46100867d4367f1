// Capturing what a dependency prints on the process's stderr (file descriptor 2) during one
// synchronous call. Dawn writes adapter warnings with fprintf(stderr) inside requestAdapter()
// ("Couldn't load Vulkan: ...", lavapipe's "... artificially reduced ..." limits); the webgpu backend
// points fd 2 at a temporary file around that call and reports the text in status() instead
// (src/backends/webgpu/device.ts), so a user's stderr shows only numkern's own messages.
// One capture at a time; POSIX only (elsewhere begin() answers false and nothing is captured).
#pragma once

#include <napi.h>

#include <cstdio>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define NKB_STDERR_CAPTURE 1
#endif

namespace nkb {

#ifdef NKB_STDERR_CAPTURE
struct StderrCapture {
  int saved = -1;          // fd 2 as it was
  std::FILE* file = nullptr;  // where fd 2 points meanwhile
};

inline StderrCapture& stderr_capture() {
  static StderrCapture c;
  return c;
}
#endif

/// stderrCaptureBegin(): true when fd 2 now goes to a temporary file; false when it could not (or a
/// capture is already open), in which case nothing changed.
inline Napi::Value stderr_capture_begin(const Napi::CallbackInfo& call) {
  Napi::Env env = call.Env();
#ifdef NKB_STDERR_CAPTURE
  StderrCapture& c = stderr_capture();
  if (c.file) return Napi::Boolean::New(env, false);
  std::fflush(stderr);
  std::FILE* f = std::tmpfile();
  if (!f) return Napi::Boolean::New(env, false);
  const int saved = dup(2);
  if (saved < 0 || dup2(fileno(f), 2) < 0) {
    if (saved >= 0) close(saved);
    std::fclose(f);
    return Napi::Boolean::New(env, false);
  }
  c = {saved, f};
  return Napi::Boolean::New(env, true);
#else
  return Napi::Boolean::New(env, false);
#endif
}

/// stderrCaptureEnd(): restores fd 2 and returns what was written meanwhile (at most 64 KiB), or null
/// when no capture was open.
inline Napi::Value stderr_capture_end(const Napi::CallbackInfo& call) {
  Napi::Env env = call.Env();
#ifdef NKB_STDERR_CAPTURE
  StderrCapture& c = stderr_capture();
  if (!c.file) return env.Null();
  std::fflush(stderr);
  dup2(c.saved, 2);
  close(c.saved);
  std::string text;
  std::rewind(c.file);
  char buf[4096];
  std::size_t got = 0;
  while (text.size() < 65536 && (got = std::fread(buf, 1, sizeof buf, c.file)) > 0) text.append(buf, got);
  std::fclose(c.file);
  c = {};
  return Napi::String::New(env, text);
#else
  return env.Null();
#endif
}

}  // namespace nkb
