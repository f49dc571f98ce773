import t from 'tap';
import { encodeGrpcMessage } from '../../gateway/grpc/grpc-reply';

t.test('grpc-message is percent-encoded as the gRPC spec asks', async (t) => {
  t.equal(encodeGrpcMessage('a Bearer token is required'), 'a Bearer token is required', 'printable ASCII passes as is');
  t.equal(encodeGrpcMessage('100% sure'), '100%25 sure', '% is encoded');
  t.equal(encodeGrpcMessage('line\nbreak'), 'line%0Abreak', 'control characters are encoded');
  t.equal(encodeGrpcMessage('café ✓'), 'caf%C3%A9 %E2%9C%93', 'non-ASCII is encoded byte by byte (UTF-8)');
  for (const text of ['100% sure', 'café ✓', 'tab\there', '~!@#$^&*()']) {
    t.equal(decodeURIComponent(encodeGrpcMessage(text)), text, `round trip: ${JSON.stringify(text)}`);
  }
});
