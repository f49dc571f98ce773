#!/usr/bin/env node
'use strict';
// A tiny model-server stand-in for trying Gatehouse: echoes what it received,
// and streams Server-Sent Events at /stream. Usage: node examples/upstream.js [port]
const http = require('node:http');
const port = Number(process.argv[2] || process.env.PORT || 3000);
http.createServer((req, res) => {
  if (req.url === '/stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const timer = setInterval(() => {
      res.write(`data: {"token": ${n}}\n\n`);
      if (++n === 5) { clearInterval(timer); res.end('data: [DONE]\n\n'); }
    }, 200);
    req.on('close', () => clearInterval(timer));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }, null, 2);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body + '\n');
  });
}).listen(port, process.env.HOST || '127.0.0.1', () => console.log(`example upstream on :${port}`));
