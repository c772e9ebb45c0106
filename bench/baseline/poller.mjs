// SPDX-License-Identifier: MIT
// The baseline: the poller a competent user would write in Node.js instead of
// running jobwatchd. Same job files, same endpoint, same schedule (a fixed
// interval between poll starts), at most 64 requests in flight.
//
//   node poller.mjs --base URL --key-file FILE --jobs-dir DIR
//                   [--interval-ms N] [--concurrency 64] [--http 1.1|2] [--ca FILE]
//
// HTTP/1.1 uses the global fetch() (undici, keep-alive by default); HTTP/2
// uses node:http2 on one session that carries every request: over TLS (ALPN)
// for an https:// base, verified against --ca FILE if given, or cleartext with
// prior knowledge (h2c) for http://, which fetch() does not speak. Output, one
// JSON object a line on stdout:
//   {"event":"ready","jobs":N}              job files read, polling starts
//   {"event":"result","job":ID,"status":S,"t":EPOCH_MS}   a terminal status
//   {"event":"all_done","t":EPOCH_MS}       every job has ended
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';

function parseArgs(argv) {
  const a = { intervalMs: 0, concurrency: 64, http: '1.1', ca: null };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--base') a.base = v.replace(/\/+$/, '');
    else if (k === '--key-file') a.keyFile = v;
    else if (k === '--jobs-dir') a.jobsDir = v;
    else if (k === '--interval-ms') a.intervalMs = Number(v);
    else if (k === '--concurrency') a.concurrency = Number(v);
    else if (k === '--http') a.http = v;
    else if (k === '--ca') a.ca = v;
    else throw new Error(`unknown option ${k}`);
  }
  if (!a.base || !a.keyFile || !a.jobsDir) throw new Error('--base, --key-file and --jobs-dir are required');
  return a;
}

const args = parseArgs(process.argv);
const key = fs.readFileSync(args.keyFile, 'utf8').replace(/\n$/, '');
const headers = { authorization: `Bearer ${key}`, accept: 'application/json' };

// --- the jobs: the same files jobwatchd reads ---
const jobs = [];
for (const name of fs.readdirSync(args.jobsDir)) {
  if (!name.endsWith('.job') || name.startsWith('.')) continue;
  const text = fs.readFileSync(path.join(args.jobsDir, name), 'utf8');
  const id = /^JobID=(.+)$/m.exec(text)?.[1].trim().toLowerCase();
  const action = /^Action=(.+)$/m.exec(text)?.[1].trim();
  if (!id || !action) continue;
  jobs.push({ id, path: `/apps/annotation-reply/${action}/status/${id}`, started: 0 });
}
const basePath = new URL(args.base).pathname.replace(/\/+$/, '');

// --- one status request: resolves to {status, body} ---
let getStatus;
if (args.http === '2') {
  const origin = new URL(args.base).origin;
  const session = http2.connect(origin, args.ca ? { ca: fs.readFileSync(args.ca) } : {});
  session.on('error', (e) => { console.error(`http2 session: ${e.message}`); process.exit(1); });
  getStatus = (job) => new Promise((resolve) => {
    const req = session.request({ ':path': basePath + job.path, ...headers });
    let code = 0, data = '';
    req.setEncoding('utf8');
    req.on('response', (h) => { code = h[':status']; });
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      try { resolve({ code, body: JSON.parse(data) }); } catch { resolve({ code, body: null }); }
    });
    req.on('error', () => resolve({ code: 0, body: null }));
    req.end();
  });
} else {
  getStatus = async (job) => {
    try {
      const res = await fetch(args.base + job.path, { headers });
      const body = await res.json().catch(() => null);
      return { code: res.status, body };
    } catch {
      return { code: 0, body: null };
    }
  };
}

// --- a queue of due jobs and a pool of workers ---
const ready = [];
let head = 0;
const idle = []; // resolvers of workers waiting for a job

function makeDue(job) {
  const w = idle.pop();
  if (w) w(job);
  else ready.push(job);
}

function nextDue() {
  if (head < ready.length) {
    const job = ready[head++];
    if (head > 65536 && head * 2 > ready.length) { ready.splice(0, head); head = 0; }
    return job;
  }
  return new Promise((resolve) => idle.push(resolve));
}

let remaining = jobs.length;
let lastResult = 0;

function finish(job, status) {
  const t = Date.now();
  lastResult = Math.max(lastResult, t);
  process.stdout.write(`${JSON.stringify({ event: 'result', job: job.id, status, t })}\n`);
  if (--remaining === 0) process.stdout.write(`${JSON.stringify({ event: 'all_done', t: lastResult })}\n`);
}

async function worker() {
  for (;;) {
    const job = await nextDue();
    job.started = Date.now();
    const { code, body } = await getStatus(job);
    const status = code === 200 && body && typeof body.job_status === 'string' ? body.job_status : null;
    if (status === 'completed' || status === 'error') { finish(job, status); continue; }
    if ((code === 400 || code === 404) && body?.message === 'The job does not exist.') { finish(job, 'gone'); continue; }
    // next poll `interval` after this one started
    const wait = job.started + args.intervalMs - Date.now();
    if (wait > 0) setTimeout(makeDue, wait, job);
    else makeDue(job);
  }
}

process.stdout.write(`${JSON.stringify({ event: 'ready', jobs: jobs.length })}\n`);
for (const job of jobs) makeDue(job);
for (let i = 0; i < args.concurrency; i++) worker();
