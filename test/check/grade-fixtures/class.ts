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

/**
 * A submission: a correct lab server (''), one with a flaw tcp.py knows (LAB_FLAW: 'sleep-after-q'
 * is `time.sleep(1)` after `Q`, before the close: a correct server), 'no-start', or an edit of the
 * source as students make it: 'other-port' (the port changed to 12222).
 */
export type Member =
  | ''
  | 'late-write'
  | 'write-after-a'
  | 'append'
  | 'no-q'
  | 'a-newline'
  | 'spin'
  | 'crash-utf8'
  | 'sleep-after-q'
  | 'bind-lan'
  | 'no-start'
  | 'other-port';

/** Source edits, each of one line of tcp.py. */
const EDITS: Partial<Record<Member, [RegExp, string]>> = {
  'other-port': [/^PORT = 12100$/m, 'PORT = 12222'],
};

/** The lab server's source with `flaw` fixed in it. */
export async function labServer(flaw: Member = ''): Promise<string> {
  const source = await readFile(LAB_SERVER, 'utf8');
  if (!flaw) return source;
  const edit = EDITS[flaw];
  if (edit) {
    const text = source.replace(edit[0], edit[1]);
    if (text === source) throw new Error(`${LAB_SERVER}: no line to make the ${flaw} edit in`);
    return text;
  }
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
