import t from 'tap';
import { decisionMatrix } from './decision-matrix';

// The embedded store has no server to kill: losing its SQLite handle is how it
// becomes unreachable (every read then fails, as on a vanished disk).
decisionMatrix(t, {
  store: () => ({ driver: 'embedded' }),
  outage: (gw) => gw.gateway.runtime.store.close(),
});
