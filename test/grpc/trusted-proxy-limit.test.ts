import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { GrpcStatus } from '../../gateway/errors';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawGrpcCall } from '../helpers/grpc';
import { refusingUrl } from '../helpers/upstream';

t.test('behind a trusted proxy, failed gRPC calls are counted per client, not per proxy', async (t) => {
  const gw = await startGateway(t, {
    extra: { trustedProxies: ['127.0.0.0/8'], failedAuth: { perMinute: 2 } },
    deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [await refusingUrl()] }],
  });
  const call = async (client: string): Promise<string | undefined> => {
    const reply = await rawGrpcCall(gw.external, {
      ':authority': hostOf('iris'), ':path': '/echo.Echo/Unary', authorization: `Bearer ${generateSecret()}`, 'x-forwarded-for': client,
    });
    return reply.headers['grpc-status'] as string | undefined;
  };
  for (let i = 0; i < 2; i++) t.equal(await call('203.0.113.7'), String(GrpcStatus.UNAUTHENTICATED), `failure ${i + 1}`);
  t.equal(await call('203.0.113.7'), String(GrpcStatus.RESOURCE_EXHAUSTED), 'the failing client is limited');
  t.equal(await call('198.51.100.9'), String(GrpcStatus.UNAUTHENTICATED), 'another client behind the same proxy is not');
});
