#!/usr/bin/env node
'use strict';
// The console's static files (HTML, CSS, icon) sit beside its TypeScript
// sources; `tsc` emits only the scripts, so this puts the rest next to them.
// Usage: node scripts/copy-console-assets.js [OUT_DIR]   (default dist/console)
const { copyFileSync, mkdirSync, readdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const from = join(__dirname, '..', 'console');
const to = process.argv[2] ? resolve(process.argv[2]) : join(__dirname, '..', 'dist', 'console');
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  if (/\.(html|css|svg)$/.test(name)) copyFileSync(join(from, name), join(to, name));
}
