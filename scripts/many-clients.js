#!/usr/bin/env node
// Load probe (issue 11, item 13c): PROCS client processes with CONNS connections each against a
// running server; each process prints its connect time, its slowest first call (which opens a
// connection), its slowest later call and its errors. Bounded: children are killed after 120 s.
//   node scripts/many-clients.js PORT [PROCS=16] [CONNS=4] [CALLS=100]
// Env: STAGGER=MS between process starts; ABRUPT=1 children exit without closing;
// KILL_ODD=MS odd children SIGKILL themselves that long after connecting (calls in flight).
// Needs the build (dist/, build/Release). Calls are 64 KiB reads: each runs on a worker thread
// of its own, so CONNS concurrent calls hold CONNS connections.
'use strict';
const { spawn } = require('child_process');
const path = require('path');
const [,, port, procs = '16', conns = '4', calls = '100'] = process.argv;
if (!port) {
  console.error('usage: node scripts/many-clients.js PORT [PROCS] [CONNS] [CALLS]');
  process.exit(2);
}
if (process.env.MANY_CLIENTS_CHILD) {
  const { IocClient } = require(path.join(__dirname, '..', 'dist', 'src'));
  (async () => {
    const t0 = Date.now();
    let client;
    try {
      client = await IocClient.connect('127.0.0.1', Number(port));
    } catch (e) {
      console.log(JSON.stringify({ connectError: e.code, ms: Date.now() - t0 }));
      return;
    }
    const connectMs = Date.now() - t0;
    if (process.env.DIE_MS) setTimeout(() => process.kill(process.pid, 'SIGKILL'), Number(process.env.DIE_MS));
    let worst = 0, worstFirst = 0;
    const errors = {};
    const t1 = Date.now();
    await Promise.all(Array.from({ length: Number(conns) }, async (_, k) => {
      for (let i = 0; i < Number(calls); i++) {
        const s = process.hrtime.bigint();
        try { await client.read(1, k, 0, 64 * 1024); } catch (e) { errors[e.code] = (errors[e.code] || 0) + 1; }
        const ms = Number(process.hrtime.bigint() - s) / 1e6;
        if (i === 0) worstFirst = Math.max(worstFirst, ms); else worst = Math.max(worst, ms);
      }
    }));
    console.log(JSON.stringify({ connectMs, firstCallMs: Math.round(worstFirst), worstCallMs: Math.round(worst),
      totalMs: Date.now() - t1, errors }));
    if (process.env.ABRUPT) process.exit(0);
    client.close();
  })();
} else {
  const children = [];
  for (let p = 0; p < Number(procs); p++) {
    const delay = process.env.STAGGER ? p * Number(process.env.STAGGER) : 0;
    children.push(new Promise((started) => setTimeout(started, delay)).then(() => new Promise((resolve) => {
      const env = { ...process.env, MANY_CLIENTS_CHILD: '1', ...(process.env.KILL_ODD && p % 2 ? { DIE_MS: process.env.KILL_ODD } : {}) };
      const c = spawn(process.execPath, [__filename, port, procs, conns, calls], { env });
      let out = '', err = '';
      c.stdout.on('data', (d) => { out += d; });
      c.stderr.on('data', (d) => { err += d; });
      const timer = setTimeout(() => c.kill('SIGKILL'), 120000);
      c.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(`${out.trim() || `(${signal ?? code})`}${err ? ` stderr: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      });
    })));
  }
  Promise.all(children).then((lines) => lines.forEach((l, i) => console.log(i, l)));
}
