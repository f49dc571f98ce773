import t from 'tap';
import { clientAddress } from '../../gateway/http/client-address';
import { cidrMatcher } from '../../gateway/http/cidr';

const trusted = cidrMatcher(['10.0.0.0/8', '::1/128']);

t.test('an untrusted peer is the client, whatever X-Forwarded-For says', async (t) => {
  t.equal(clientAddress('203.0.113.7', '198.51.100.1', trusted), '203.0.113.7');
  t.equal(clientAddress('203.0.113.7', undefined, trusted), '203.0.113.7');
});

t.test('behind trusted proxies: the nearest hop that is not a trusted proxy', async (t) => {
  t.equal(clientAddress('10.0.0.5', '198.51.100.1', trusted), '198.51.100.1');
  t.equal(clientAddress('::ffff:10.0.0.5', '198.51.100.1', trusted), '198.51.100.1', 'an IPv4-mapped peer');
  t.equal(clientAddress('10.0.0.5', '192.0.2.66, 198.51.100.1, 10.1.1.1', trusted), '198.51.100.1', 'a chain of proxies');
  t.equal(clientAddress('10.0.0.5', ['192.0.2.66', '198.51.100.1'], trusted), '198.51.100.1', 'repeated headers');
  t.equal(clientAddress('10.0.0.5', '198.51.100.1 , ,', trusted), '198.51.100.1', 'empty entries are skipped');
  t.equal(clientAddress('10.0.0.5', '10.2.2.2, 10.1.1.1', trusted), '10.2.2.2', 'all trusted: the farthest');
  t.equal(clientAddress('10.0.0.5', '', trusted), '10.0.0.5', 'an empty header: the peer');
});
