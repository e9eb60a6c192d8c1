// A class of lab-server submissions for the grade tests and bench/grade.ts: copies of the lab-style
// server the checker's tests use (test/check/servers/tcp.py: one connection then exit, recv(1),
// listen(1), no SO_REUSEADDR, port 12100), each correct or with one flaw set in the file itself,
// as a student's program has it, and the server that never starts (grade-fixtures/no_start.py).
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const LAB_SERVER = join(ROOT, 'test/check/servers/tcp.py');
const NO_START = join(ROOT, 'test/check/grade-fixtures/no_start.py');

/** A submission: a correct lab server (''), one with a flaw tcp.py knows (LAB_FLAW), or 'no-start'. */
export type Member = '' | 'late-write' | 'write-after-a' | 'append' | 'no-q' | 'a-newline' | 'spin' | 'crash-utf8' | 'no-start';

/** The lab server's source with `flaw` fixed in it. */
export async function labServer(flaw: Member = ''): Promise<string> {
  const source = await readFile(LAB_SERVER, 'utf8');
  if (!flaw) return source;
  const text = source.replace(/^import os\n/m, `import os\nos.environ['LAB_FLAW'] = '${flaw}'\n`);
  if (text === source) throw new Error(`${LAB_SERVER}: no "import os" line to set the flaw after`);
  return text;
}

/** Writes `<name>.py` in `dir` for each member. */
export async function writeClass(dir: string, members: Record<string, Member>): Promise<void> {
  for (const [name, member] of Object.entries(members)) {
    const file = join(dir, `${name}.py`);
    if (member === 'no-start') await copyFile(NO_START, file);
    else await writeFile(file, await labServer(member));
  }
}
