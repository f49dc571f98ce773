#!/usr/bin/env node
'use strict';
// Debian's node is 20: under it the build loads, and then fails deep inside a dependency with a
// message that names neither Node nor the fix. Say both before loading anything.
const wanted = Number(/\d+/.exec(require('../package.json').engines.node)[0]);
if (Number(process.versions.node.split('.')[0]) < wanted) {
  process.stderr.write(`gatehouse: needs Node.js ${wanted} or later; this is ${process.version} (${process.execPath}).\n`
    + `In a checkout, "source scripts/node24.sh" fetches Node.js ${wanted} and puts it first on PATH.\n`);
  process.exitCode = 1;
} else {
  // Before anything else loads: a pretenuring decision V8 takes while modules load would stick (see the module).
  require('../dist/gateway/cli/pretenuring.js').noAllocationSitePretenuring();
  require('../dist/gateway/cli/main.js').main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err) => { process.stderr.write(`gatehouse: ${err && err.message ? err.message : String(err)}\n`); process.exitCode = 1; },
  );
}
