import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { RequestMetrics } from '../../gateway/request-metrics';

/** What prom-client's own Counter and Histogram print for the same requests: the tallies must read the same. */
function reference(): { registry: Registry; record: RequestMetrics['record'] } {
  const registry = new Registry();
  const requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Requests by deployment, listener, protocol, decision reason and status.',
    labelNames: ['deployment', 'listener', 'protocol', 'reason', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from request start to the end of the response, by deployment, listener and protocol.',
    labelNames: ['deployment', 'listener', 'protocol'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  return {
    registry,
    record: (deployment, listener, protocol, reason, status, seconds) => {
      requests.inc({ deployment, listener, protocol, reason, status: String(status) });
      duration.observe({ deployment, listener, protocol }, seconds);
    },
  };
}

t.test('tallies print exactly what prom-client would, across scrapes', async (t) => {
  const registry = new Registry();
  const tallied = new RequestMetrics(registry);
  const expected = reference();
  const requests: Parameters<RequestMetrics['record']>[] = [
    ['open', 'external', 'http', 'public', 200, 0.0004],
    ['open', 'external', 'http', 'public', 200, 0.003],
    ['guarded', 'external', 'http', 'token', 200, 0.02],
    ['guarded', 'external', 'http', 'invalid_token', 401, 0.0001],
    ['', 'external', 'http', 'not_found', 404, 400],
    ['a"b', 'internal', 'grpc', 'internal', 200, 0.001],
  ];
  for (const r of requests) {
    tallied.record(...r);
    expected.record(...r);
  }
  t.equal(await registry.metrics(), await expected.registry.metrics());
  tallied.record('open', 'external', 'http', 'public', 200, 0.5);
  expected.record('open', 'external', 'http', 'public', 200, 0.5);
  const text = await registry.metrics();
  t.equal(text, await expected.registry.metrics(), 'a second scrape adds only what came since');
  t.match(text, /gatehouse_requests_total\{deployment="open",listener="external",protocol="http",reason="public",status="200"\} 3/);
});

t.test('an idle gateway prints the metric headers only', async (t) => {
  const registry = new Registry();
  new RequestMetrics(registry);
  const text = await registry.metrics();
  t.match(text, /# TYPE gatehouse_request_duration_seconds histogram/);
  t.notMatch(text, /gatehouse_request_duration_seconds_bucket/);
});
