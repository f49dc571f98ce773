import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';

// SPEC §9: the user documentation lives in the repository, and every relative link in it
// resolves to a file in the repository.
const ROOT = resolve(__dirname, '..', '..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** Link targets of `[text](target)` and `![alt](target)`, outside code blocks and code spans. */
function links(text: string): string[] {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes. */
function anchors(text: string): Set<string> {
  const prose = text.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...prose.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')));
}

const files = [join(ROOT, 'README.md'), ...markdownFiles(join(ROOT, 'docs'))];

t.test('the reference pages exist', async (t) => {
  for (const page of ['configuration', 'admin-api', 'cli', 'operations', 'security']) t.ok(existsSync(join(ROOT, 'docs', `${page}.md`)), `docs/${page}.md`);
  t.ok(existsSync(join(ROOT, 'LICENSE')), 'LICENSE');
  t.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004[\s\S]*END OF TERMS AND CONDITIONS/, 'the Apache License 2.0 text');
  t.match(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), /^# Changelog[\s\S]*## \[Unreleased\]/, 'a Keep a Changelog file with an Unreleased section');
});

for (const file of files) {
  t.test(`${relative(ROOT, file)}: every relative link resolves inside the repository`, async (t) => {
    const text = readFileSync(file, 'utf8');
    let checked = 0;
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto: — not a file
      const [path, anchor] = link.split('#');
      const target = path === '' ? file : resolve(dirname(file), decodeURI(path));
      checked++;
      t.ok(target.startsWith(ROOT + '/') || target === ROOT, `${link} stays inside the repository`);
      t.ok(existsSync(target), `${link} exists`);
      if (anchor && existsSync(target) && statSync(target).isFile() && target.endsWith('.md')) {
        t.ok(anchors(readFileSync(target, 'utf8')).has(anchor), `${link}: the heading #${anchor} exists`);
      }
    }
    t.ok(checked > 0 || !file.endsWith('README.md'), 'links were found');
  });
}
