import { execFile } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES, hostOf, startGateway } from '../helpers/gateway';
import { startGrpcUpstream } from '../helpers/grpc';

const PYTHON = '/usr/bin/python3';

/**
 * The client pattern of the product docs, verbatim, with Debian's
 * python3-grpcio (gRPC C core): TLS channel credentials with the test CA,
 * the token as access-token call credentials. Prints one JSON result per case.
 */
const CLIENT = `
import json, sys
import grpc

port, host, ca_path, cases = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with open(ca_path, 'rb') as f:
    ca = f.read()
results = []
for token in cases:
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    if token:
        auth_creds = grpc.access_token_call_credentials(token)
        creds = grpc.composite_channel_credentials(creds, auth_creds)
    channel = grpc.secure_channel('127.0.0.1:' + port, creds, options=[('grpc.ssl_target_name_override', host)])
    unary = channel.unary_unary('/gatehouse.test.Echo/Unary')
    try:
        reply = unary(b'\\x0a\\x05hello', timeout=10)  # EchoRequest{text: "hello"}
        results.append({'code': 'OK', 'reply': reply.hex()})
    except grpc.RpcError as e:
        results.append({'code': e.code().name, 'details': e.details()})
    channel.close()
print(json.dumps(results))
`;

function runPython(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(PYTHON, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

t.test('python3-grpcio, the documented client pattern, against a protected gRPC Deployment', async (t) => {
  const probe = await runPython(['-c', 'import grpc']);
  if (probe.code !== 0) {
    t.fail(`${PYTHON} cannot import grpc: install python3-grpcio (.ci/run does)\n${probe.stderr}`);
    return;
  }
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    tls: true,
    deployments: [
      { name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
      { name: 'other', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
    ],
  });
  const { secret, token } = await gw.mint({ user: ['iris'] });
  const { secret: otherSecret } = await gw.mint({ user: ['other'] });

  const run = await runPython(['-c', CLIENT, String(gw.externalPort), hostOf('iris'), join(FIXTURES, 'tls', 'ca.crt'), JSON.stringify([secret, '', otherSecret])]);
  t.equal(run.code, 0, run.stderr);
  const [ok, none, other] = JSON.parse(run.stdout) as { code: string; reply?: string; details?: string }[];

  t.equal(ok.code, 'OK', 'a user token for the Deployment');
  // EchoReply{text: "hello", upstream: "echo"} as the upstream serialized it.
  t.match(ok.reply, /^0a0568656c6c6f/, 'the reply came from the upstream');
  t.equal(none.code, 'UNAUTHENTICATED', 'no token');
  t.equal(none.details, 'a Bearer token is required');
  t.equal(other.code, 'PERMISSION_DENIED', "another Deployment's token");

  t.equal(up.calls.length, 1, 'only the allowed call reached the upstream');
  t.notOk(up.calls[0].metadata.authorization, 'without the token');
  t.equal(up.calls[0].metadata['x-gatehouse-token-id'], token.id);
  t.match(up.calls[0].metadata['user-agent'], /grpc-python/, 'the client was the C core');
});
