// Runs Python code under the official MicroPython WebAssembly port, as a persistent process.
//
// Usage:
//   node runner.mjs [--heapsize BYTES] [--pystack WORDS] [--mount HOST_DIR[:WASM_DIR]]...
//
// Each --mount copies the .py files of HOST_DIR (recursively, skipping __pycache__ and dot
// directories) into the WebAssembly file system at WASM_DIR, by default /lib/<basename of
// HOST_DIR>. /lib is on MicroPython's sys.path, so mounting the repository's firmware/ makes
// `import firmware.core.codec` work. The copy is taken once at start-up.
//
// Protocol: one JSON object per line on stdin, one JSON object per line on stdout.
//   start-up:  {"ready": true, "version": "...", "heapsize": N, "pystack": N, "files": N}
//              or {"ready": false, "error": "..."} and exit code 1
//   request:   {"id": ANY, "code": "...", "async": false, "timeout_ms": 30000}
//              "async": true runs the code with runPythonAsync, so it may use top-level
//              `await`; the reply comes when that finishes. "timeout_ms" (async only) bounds
//              the wait; 0 or absent means no bound.
//   reply:     {"id": ANY, "stdout": "...", "stderr": "...", "error": null}
//              or "error": {"type": "ValueError", "traceback": "Traceback ...", "fatal": false}
// A Python exception (SystemExit included) is reported as an error and the interpreter keeps
// its state for the next request. An error of the JavaScript/WebAssembly machinery itself
// (type "JSError", e.g. a WebAssembly trap) is reported with "fatal": true and the process
// exits, because the interpreter may be corrupt. MicroPython's own output never reaches this
// process's stdout: it is captured per request; stray console output goes to stderr.

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

// The protocol owns stdout: anything else that logs goes to stderr.
const protocolWrite = process.stdout.write.bind(process.stdout);
for (const name of ["log", "info", "debug", "warn"]) {
  console[name] = (...args) => console.error(...args);
}

function send(message) {
  protocolWrite(JSON.stringify(message) + "\n");
}

function parseArgs(argv) {
  const options = { heapsize: undefined, pystack: undefined, mounts: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === "--heapsize" || arg === "--pystack") {
      const n = Number.parseInt(value ?? "", 10);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new Error(`${arg} needs a positive integer, got ${JSON.stringify(value)}`);
      }
      options[arg.slice(2)] = n;
      i++;
    } else if (arg === "--mount") {
      if (value === undefined) throw new Error("--mount needs HOST_DIR[:WASM_DIR]");
      // Split on the last ':' that is followed by an absolute wasm path.
      const m = /^(.*?):(\/[^:]*)$/.exec(value);
      const hostDir = path.resolve(m ? m[1] : value);
      const wasmDir = m ? m[2] : `/lib/${path.basename(hostDir)}`;
      options.mounts.push({ hostDir, wasmDir });
      i++;
    } else {
      throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return options;
}

function mkdirs(FS, dir) {
  let current = "";
  for (const part of dir.split("/").filter(Boolean)) {
    current += "/" + part;
    if (!FS.analyzePath(current).exists) FS.mkdir(current);
  }
}

// Copies the .py files under hostDir to wasmDir; returns how many.
function copyTree(FS, hostDir, wasmDir) {
  if (!fs.statSync(hostDir).isDirectory()) {
    throw new Error(`mount source is not a directory: ${hostDir}`);
  }
  mkdirs(FS, wasmDir);
  let count = 0;
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || entry.name === "__pycache__") continue;
    const hostPath = path.join(hostDir, entry.name);
    const wasmPath = `${wasmDir}/${entry.name}`;
    if (entry.isDirectory()) {
      count += copyTree(FS, hostPath, wasmPath);
    } else if (entry.isFile() && entry.name.endsWith(".py")) {
      FS.writeFile(wasmPath, fs.readFileSync(hostPath));
      count++;
    }
  }
  return count;
}

// Collects the bytes MicroPython writes during one request.
class Capture {
  constructor() {
    this.chunks = [];
  }
  push(bytes) {
    this.chunks.push(typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes));
  }
  take() {
    const text = Buffer.concat(this.chunks).toString("utf8");
    this.chunks = [];
    return text;
  }
}

function describeError(error) {
  if (error && error.name === "PythonError") {
    return { type: String(error.type), traceback: String(error.message), fatal: false };
  }
  const text = error && error.stack ? String(error.stack) : String(error);
  return { type: "JSError", traceback: text, fatal: true };
}

function withTimeout(promise, ms) {
  if (!ms) return promise;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`async code did not finish within ${ms} ms`);
      error.name = "PythonError"; // reported like a Python error; the runner stays usable
      error.type = "TimeoutError";
      error.message = `TimeoutError: async code did not finish within ${ms} ms\n`;
      reject(error);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  let mp;
  const stdout = new Capture();
  const stderr = new Capture();
  let options;
  let files = 0;
  try {
    options = parseArgs(process.argv.slice(2));
    const loadOptions = {
      stdout: (bytes) => stdout.push(bytes),
      stderr: (bytes) => stderr.push(bytes),
      linebuffer: false, // bytes as written: no lost partial last line, no UTF-8 splitting
    };
    if (options.heapsize !== undefined) loadOptions.heapsize = options.heapsize;
    if (options.pystack !== undefined) loadOptions.pystack = options.pystack;
    mp = await loadMicroPython(loadOptions);
    for (const { hostDir, wasmDir } of options.mounts) {
      files += copyTree(mp.FS, hostDir, wasmDir);
    }
    mp.runPython("import sys\nif '/lib' not in sys.path:\n    sys.path.append('/lib')\n");
  } catch (error) {
    send({ ready: false, error: error && error.stack ? String(error.stack) : String(error) });
    process.exit(1);
  }
  stdout.take();
  stderr.take();
  const version = String(mp.pyimport("sys").version);
  send({
    ready: true,
    version,
    heapsize: options.heapsize ?? null,
    pystack: options.pystack ?? null,
    files,
  });

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let request;
    try {
      request = JSON.parse(line);
      if (typeof request.code !== "string") throw new Error('request needs a string "code"');
    } catch (error) {
      send({
        id: request?.id ?? null,
        stdout: "",
        stderr: "",
        error: { type: "ProtocolError", traceback: String(error.message ?? error), fatal: false },
      });
      continue;
    }
    let error = null;
    try {
      if (request.async) {
        await withTimeout(Promise.resolve(mp.runPythonAsync(request.code)), request.timeout_ms);
      } else {
        mp.runPython(request.code);
      }
    } catch (caught) {
      error = describeError(caught);
    }
    send({ id: request.id ?? null, stdout: stdout.take(), stderr: stderr.take(), error });
    if (error && error.fatal) process.exit(2);
  }
  process.exit(0);
}

await main();
