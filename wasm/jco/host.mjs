// The mtls-wasi component on Node through jco: `jco transpile` turns it into JS + core wasm
// (cached under .cache/ by the component's hash), and @bytecodealliance/preview2-shim serves
// its WASI imports. The same commands, grants, input and output as the Rust test host
// (wasm/host, see its src/main.rs):
//
//   node host.mjs run [GRANTS] COMPONENT [ARG]...       # wasi:cli/run
//   node host.mjs api [GRANTS] COMPONENT < session.json  # mtls:client/api
//
// GRANTS: -S inherit-network, -S allow-ip-name-lookup, --dir HOST[::GUEST], --env NAME=VALUE.
// Nothing is granted by default (the shim's own defaults, the whole environment, argv and
// network, are replaced first).
//
// `run` lets the component's outcome through as Node does it: `wasi:cli/exit` ends the
// process with its status; an `Err` returned from `run` surfaces as jco's ComponentError.
// `api` prints `open-err ...`, then `ok STATUS BODY` / `err CASE DELIVERY MESSAGE` per
// request, then `connections N`, and `time I MS` per request on stderr.
//
// Needs `npm ci` in this directory first.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";

import { transpile } from "@bytecodealliance/jco";
import { _setArgs, _setEnv, _setCwd } from "@bytecodealliance/preview2-shim/cli";
import { _setPreopens, _addPreopen } from "@bytecodealliance/preview2-shim/filesystem";
import { _denyTcp, _denyUdp, _denyDnsLookup } from "@bytecodealliance/preview2-shim/sockets";

const HERE = dirname(fileURLToPath(import.meta.url));
const USAGE = `usage:
  node host.mjs run [GRANTS] COMPONENT [ARG]...
  node host.mjs api [GRANTS] COMPONENT < session.json
GRANTS: -S inherit-network, -S allow-ip-name-lookup, --dir HOST[::GUEST], --env NAME=VALUE`;

function fail(message) {
  process.stderr.write(`jco host: ${message}\n`);
  process.exit(2);
}

function parseGrants(args) {
  const grants = { network: false, nameLookup: false, dirs: [], env: {} };
  let i = 0;
  for (; i < args.length && args[i].startsWith("-"); i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) fail(`${flag} needs a value`);
    if (flag === "-S" && value === "inherit-network") grants.network = true;
    else if (flag === "-S" && value === "allow-ip-name-lookup") grants.nameLookup = true;
    else if (flag === "--dir") {
      const [host, guest] = value.includes("::") ? value.split("::") : [value, value];
      grants.dirs.push([resolve(host), guest]);
    } else if (flag === "--env") {
      const eq = value.indexOf("=");
      if (eq < 0) fail(`--env needs NAME=VALUE: ${value}`);
      grants.env[value.slice(0, eq)] = value.slice(eq + 1);
    } else fail(`unknown option ${flag} ${value}\n${USAGE}`);
  }
  return [grants, args.slice(i)];
}

function grant(grants, args) {
  _setArgs(args);
  _setEnv(grants.env);
  _setCwd("/");
  _setPreopens({});
  for (const [host, guest] of grants.dirs) _addPreopen(guest, host);
  if (!grants.network) _denyTcp();
  _denyUdp();
  if (!grants.nameLookup) _denyDnsLookup();
}

// The transpiled component, from the cache when these bytes were transpiled before.
async function load(componentPath) {
  const bytes = readFileSync(componentPath);
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = join(HERE, ".cache", hash);
  if (!existsSync(join(dir, "mtls_wasi.js"))) {
    const { files } = await transpile(bytes, { name: "mtls_wasi", noTypescript: true, quiet: true });
    // Written beside node_modules (so the shim imports resolve), then renamed into place:
    // a concurrent run sees no directory or a whole one.
    const partial = join(HERE, ".cache", `${hash}.${process.pid}.tmp`);
    for (const [name, data] of Object.entries(files)) {
      mkdirSync(dirname(join(partial, name)), { recursive: true });
      writeFileSync(join(partial, name), data);
    }
    try {
      renameSync(partial, dir);
    } catch {
      rmSync(partial, { recursive: true, force: true }); // another run got there first
    }
  }
  return import(pathToFileURL(join(dir, "mtls_wasi.js")).href);
}

function oneLine(bytes) {
  return Buffer.from(bytes).toString("utf8").replaceAll("\n", "\\n");
}

// `CASE DELIVERY MESSAGE`, or `sca-required STATUS REDIRECT BODY`, as the Rust host.
function describe(error) {
  if (error.tag === "sca-required") {
    const { redirectUrl, response } = error.val;
    return `sca-required ${response.status} ${redirectUrl ?? "-"} ${oneLine(response.body)}`;
  }
  return `${error.tag} ${error.val.delivery} ${error.val.message}`;
}

// jco throws a ComponentError whose payload is the `error` variant for an `Err` result.
function call(f) {
  try {
    return { ok: f() };
  } catch (e) {
    if (e && e.payload && typeof e.payload.tag === "string") return { err: e.payload };
    throw e;
  }
}

function configRecord(c) {
  const parts = (v) => v[Object.keys(v)[0]];
  const identityCase = Object.keys(c.identity)[0];
  const p = parts(c.identity);
  const identity =
    identityCase === "pem"
      ? { tag: "pem", val: { cert: Buffer.from(p.cert), key: Buffer.from(p.key), passphrase: p.passphrase ?? undefined } }
      : { tag: "base64", val: { cert: p.cert, key: p.key, passphrase: p.passphrase ?? undefined } };
  let ca;
  if (c.ca) {
    const caseName = Object.keys(c.ca)[0];
    ca = caseName === "pem" ? { tag: "pem", val: Buffer.from(c.ca.pem) } : { tag: "base64", val: c.ca.base64 };
  }
  return {
    baseUrl: c["base-url"],
    clientId: c["client-id"],
    apiKey: c["api-key"],
    identity,
    ca,
    timeoutMs: c["timeout-ms"] ?? undefined,
  };
}

async function api(grants, componentPath) {
  const session = JSON.parse(readFileSync(0, "utf8"));
  grant(grants, [componentPath]);
  const component = await load(componentPath);
  const opened = call(() => component.api.Session.open(configRecord(session.config)));
  if (opened.err) {
    console.log(`open-err ${describe(opened.err)}`);
    return;
  }
  const s = opened.ok;
  session.requests.forEach((r, i) => {
    const start = performance.now();
    const body = r.body == null ? undefined : Buffer.from(r.body);
    const outcome = call(() => s.request(r.method, r.path, r.headers ?? [], body));
    process.stderr.write(`time ${i + 1} ${(performance.now() - start).toFixed(2)}\n`);
    if (outcome.err) console.log(`err ${describe(outcome.err)}`);
    else console.log(`ok ${outcome.ok.status} ${oneLine(outcome.ok.body)}`);
  });
  console.log(`connections ${s.connections()}`);
}

async function run(grants, componentPath, guestArgs) {
  grant(grants, [componentPath, ...guestArgs]);
  const component = await load(componentPath);
  component.run.run();
}

const [command, ...rest] = process.argv.slice(2);
const [grants, [componentPath, ...guestArgs]] = parseGrants(rest);
if (componentPath === undefined) fail(`missing COMPONENT\n${USAGE}`);
if (command === "run") await run(grants, componentPath, guestArgs);
else if (command === "api") {
  if (guestArgs.length) fail(`\`api\` takes no arguments after COMPONENT\n${USAGE}`);
  await api(grants, componentPath);
} else fail(`unknown command ${command}\n${USAGE}`);
