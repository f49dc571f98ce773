import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CommandError } from '../../gateway/cli/args';
import { contextsPath, currentContext, saveContext } from '../../gateway/cli/contexts';

const root = mkdtempSync(join(tmpdir(), 'gatehouse-contexts-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

let homes = 0;
function home(): NodeJS.ProcessEnv {
  return { GATEHOUSE_HOME: join(root, `home-${++homes}`) };
}

const CONTEXT = { name: 'acme', endpoint: 'http://127.0.0.1:9090', api_token: 'gth_x' };

t.test('a contexts file that is JSON but not a contexts file is refused with a clear message', async (t) => {
  for (const text of [
    'null',
    '"text"',
    '{"current": "acme", "contexts": [null]}',
    '{"current": "acme", "contexts": [{"name": "acme"}]}',
    '{"current": "acme", "contexts": {"acme": {}}}',
    '{"current": 5, "contexts": []}',
  ]) {
    const env = home();
    mkdirSync(env.GATEHOUSE_HOME!, { recursive: true });
    writeFileSync(contextsPath(env), text);
    // Before: a TypeError ("Cannot read properties of null"), or half a context printed by current-context with exit 0.
    t.throws(() => currentContext(env), { constructor: CommandError, message: /is not a Gatehouse contexts file; fix it or delete it/ }, text);
  }
});

t.test('an empty or complete file reads', async (t) => {
  const env = home();
  mkdirSync(env.GATEHOUSE_HOME!, { recursive: true });
  writeFileSync(contextsPath(env), '{}');
  t.equal(currentContext(env), null);
  saveContext(CONTEXT, env);
  t.same(currentContext(env), CONTEXT);
});

t.test('in a folder others can write to, a link planted at the temporary name gets no token', async (t) => {
  const env = home();
  mkdirSync(env.GATEHOUSE_HOME!, { recursive: true });
  chmodSync(env.GATEHOUSE_HOME!, 0o777);
  const stolen = join(root, 'stolen');
  writeFileSync(stolen, '');
  chmodSync(stolen, 0o666);
  symlinkSync(stolen, `${contextsPath(env)}.${process.pid}.tmp`);
  t.throws(() => saveContext(CONTEXT, env), /EEXIST/);
  t.equal(readFileSync(stolen, 'utf8'), '', 'nothing written through the link');
  rmSync(`${contextsPath(env)}.${process.pid}.tmp`);
  saveContext(CONTEXT, env);
  t.equal(statSync(contextsPath(env)).mode & 0o777, 0o600, 'mode 0600 in a loose folder');
});
