#!/usr/bin/env node
'use strict';
// A tiny gRPC model-server stand-in for trying Gatehouse's gRPC Deployments (iris in the
// example configs): the Iris service of examples/iris.proto over h2c, unary and server
// streaming. Usage: node examples/grpc-upstream.js [port]   (after `npm ci` in the checkout)
const { join } = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const port = Number(process.argv[2] || process.env.PORT || 3001);
const definition = protoLoader.loadSync(join(__dirname, 'iris.proto'));
const { Iris } = grpc.loadPackageDefinition(definition).iris;

/** Petal length decides, as in every first classifier. */
function species(measurements) {
  const petalLength = Number(String(measurements).split(',')[2]);
  if (!Number.isFinite(petalLength)) return null;
  return petalLength < 2.5 ? 'setosa' : petalLength < 5 ? 'versicolor' : 'virginica';
}

function invalid(callback) {
  callback({ code: grpc.status.INVALID_ARGUMENT, details: 'send four comma-separated measurements, e.g. "5.1,3.5,1.4,0.2"' });
}

const server = new grpc.Server();
server.addService(Iris.service, {
  Predict(call, callback) {
    const answer = species(call.request.value);
    if (answer === null) return invalid(callback);
    callback(null, { value: answer });
  },
  PredictStream(call) {
    const answer = species(call.request.value);
    if (answer === null) return invalid((err) => call.emit('error', err));
    const words = ['this', 'iris', 'is', 'a', answer];
    let n = 0;
    const timer = setInterval(() => {
      call.write({ value: words[n] });
      if (++n === words.length) {
        clearInterval(timer);
        call.end();
      }
    }, 100);
    call.on('cancelled', () => clearInterval(timer));
  },
});
const host = process.env.HOST || '127.0.0.1';
server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
  console.log(`example gRPC upstream (iris.Iris) on :${bound}`);
});
