import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import t from 'tap';

// The TLS example's key (certs/) and the embedded stores (data/) live in the checkout: git must not offer them for a commit.
const ROOT = resolve(__dirname, '..', '..');

function ignored(path: string): Promise<boolean> {
  return new Promise((done, fail) => {
    execFile('git', ['check-ignore', '--quiet', '--no-index', path], { cwd: ROOT }, (err) => {
      if (!err) return done(true);
      if (err.code === 1) return done(false);
      fail(new Error(`git check-ignore ${path}: ${err.message}`));
    });
  });
}

t.test('.gitignore keeps the example key and the stores out of git', async (t) => {
  for (const path of ['certs/tls.key', 'certs/tls.crt', 'data/gatehouse.db', 'data/gatehouse-tls.db-wal', 'data/gatehouse.db-shm']) {
    t.equal(await ignored(path), true, path);
  }
  for (const path of ['config/gatehouse.tls.yaml', 'examples/iris.proto', 'README.md']) t.equal(await ignored(path), false, `${path} is kept`);
});
