import t from 'tap';
import { parseBearer } from '../../gateway/auth/bearer';

t.test('the Bearer scheme is case-insensitive (RFC 6750)', async (t) => {
  for (const header of ['Bearer abc', 'bearer abc', 'BEARER abc', 'BeArEr abc', 'Bearer\tabc', 'Bearer  abc ']) {
    t.equal(parseBearer(header), 'abc', JSON.stringify(header));
  }
});

t.test('missing is not the same as not Bearer', async (t) => {
  t.equal(parseBearer(undefined), undefined, 'no header');
  for (const header of ['', 'Bearer', 'Bearerabc', 'Basic abc', 'Token abc', 'abc', 'Bearer_abc', 'Bearer:abc']) {
    t.equal(parseBearer(header), null, JSON.stringify(header));
  }
  t.notOk(parseBearer('Bearer '), 'an empty credential is no credential');
});
