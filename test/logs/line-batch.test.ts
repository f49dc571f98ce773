import t from 'tap';
import { LineBatch, PIPE_BUF } from '../../gateway/log';

/** A destination that records each write, as the pipe to stdout would receive it (the buffers themselves are kept too). */
function recorder(): { writes: string[]; buffers: Buffer[]; out: { write(b: Buffer): void; flushSync(): void } } {
  const writes: string[] = [];
  const buffers: Buffer[] = [];
  return { writes, buffers, out: { write: (b: Buffer) => { buffers.push(b); writes.push(b.toString()); }, flushSync: () => undefined } };
}

t.test('workers share stdout: no batch is larger than PIPE_BUF, so lines never interleave', async (t) => {
  const { writes, out } = recorder();
  const batch = new LineBatch(out);
  // Lines of mixed width, some with multi-byte characters, so bytes and UTF-16 length differ.
  const lines: string[] = [];
  for (let i = 0; i < 500; i++) lines.push(`{"n":${i},"path":"/${'é'.repeat(i % 97)}${'x'.repeat((i * 37) % 300)}"}\n`);
  for (const line of lines) batch.write(line);
  batch.flush();
  t.ok(writes.length > 1, 'batched into several writes');
  for (const w of writes) t.ok(Buffer.byteLength(w) <= PIPE_BUF, `a write of ${Buffer.byteLength(w)} bytes`);
  t.equal(writes.join(''), lines.join(''), 'every line, in order, each whole');
  for (const w of writes) t.ok(w.endsWith('\n'), 'a write ends on a line boundary');
  for (let i = 0; i + 1 < writes.length; i++) {
    const next = writes[i + 1].slice(0, writes[i + 1].indexOf('\n') + 1);
    t.ok(Buffer.byteLength(writes[i]) + Buffer.byteLength(next) > PIPE_BUF, `batch ${i} ends only when the next line would not fit`);
  }
});

t.test('a batch handed over is never written into again (a destination may hold it to retry)', async (t) => {
  const { writes, buffers, out } = recorder();
  const batch = new LineBatch(out);
  for (let i = 0; i < 200; i++) batch.write(`{"n":${i},"pad":"${'z'.repeat(i % 50)}"}\n`);
  batch.flush();
  t.ok(buffers.length > 1);
  t.same(buffers.map((b) => b.toString()), writes, 'each buffer still holds what it held when written');
});

t.test('a single line longer than PIPE_BUF is written whole, alone', async (t) => {
  const { writes, out } = recorder();
  const batch = new LineBatch(out);
  const long = `{"big":"${'y'.repeat(PIPE_BUF * 2)}"}\n`;
  batch.write('{"a":1}\n');
  batch.write(long);
  batch.write('{"b":2}\n');
  batch.flush();
  t.same(writes, ['{"a":1}\n', long, '{"b":2}\n']);
});
