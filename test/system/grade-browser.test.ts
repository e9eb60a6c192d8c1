// The grading report in a real browser: headless Chromium (Debian: chromium) renders the class's
// index.html and a submission's page from a real `linedrop grade` run, and what it rendered is
// read back (--dump-dom) and photographed (--screenshot, checked for its size).
//
// chromium must be on PATH; scripts/install-system-tools.sh chromium installs it. Without it the
// test fails, unless LINEDROP_SKIP_CHROMIUM=1 is set, which turns that failure into a skip.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { gradeClass } from '../../src/check/grade/grade.js';
import { removeDir, tempDir } from '../support.js';
import { writeClass } from '../check/grade-fixtures/class.js';

const found = spawnSync('chromium', ['--version'], { stdio: 'ignore' }).status === 0;
const skip =
  !found && process.env['LINEDROP_SKIP_CHROMIUM'] === '1'
    ? 'chromium not installed and LINEDROP_SKIP_CHROMIUM=1'
    : false;

/** Runs headless Chromium with a fresh profile; resolves with what it printed on standard output. */
function chromium(profile: string, args: string[]): Promise<string> {
  const flags = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('chromium', [...flags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited with ${code}: ${err}`));
    });
  });
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

test('Chromium renders the class at a glance and a submission page with its conversation timelines', {
  skip,
  timeout: 600_000,
}, async () => {
  const cls = await tempDir('linedrop-class-');
  const out = await tempDir('linedrop-grades-');
  const browser = await tempDir('linedrop-chromium-');
  try {
    await writeClass(cls, { alice: '', bob: 'a-newline', carol: 'no-start' });
    // Every check, with the template's whole 1 s pause; one after another on ports of their own.
    const report = await gradeClass({
      paths: [cls],
      command: `sed 's/^PORT = 12100$/PORT = {port}/' {file} > server.py && printf '2\\n' | exec python3 server.py`,
      out,
      isolation: 'none',
    });
    assert.deepEqual(
      report.submissions.map((s) => s.verdict),
      ['pass', 'fail', 'no-start'],
    );

    const index = await chromium(join(browser, 'a'), ['--dump-dom', pathToFileURL(join(out, 'index.html')).href]);
    assert.match(index, /<h1>linedrop grade: 3 submissions<\/h1>/);
    // The browser's own tree: a row per submission in the class table's body, with its verdict.
    const body = index.slice(index.indexOf('<tbody>'), index.indexOf('</tbody>'));
    const rows = body.split('<tr>').slice(1);
    assert.equal(rows.length, 3);
    assert.match(rows[0]!, /href="alice\/index.html">alice<\/a>.*PASS/s);
    assert.match(rows[1]!, /href="bob\/index.html">bob<\/a>.*FAIL/s);
    assert.match(rows[2]!, /href="carol\/index.html">carol<\/a>.*DID NOT START.*config\.txt not found: cannot start/s);
    assert.ok(!/<script/i.test(index));

    const page = await chromium(join(browser, 'b'), ['--dump-dom', pathToFileURL(join(out, 'bob', 'index.html')).href]);
    assert.match(page, /<h1>bob <span class="badge fail">FAIL<\/span><\/h1>/);
    // The template-timing check's timeline: the count's two halves a second apart, the pause shown.
    const timing = page.slice(page.indexOf('id="template-timing"'));
    const timeline = timing.slice(timing.indexOf('<table class="timeline">'), timing.indexOf('</table>'));
    assert.match(
      timeline,
      /checker → server.*<code class="hex">00 00<\/code>.*\n?.*… 1\.\d\d s with nothing on the wire ….*\n?.*<code class="hex">00 02<\/code>/,
    );
    assert.match(timeline, /server → checker.*<code class="hex">41 0a<\/code>/);

    // A screenshot: the page was laid out and painted at the size asked for.
    const shot = join(browser, 'bob.png');
    await chromium(join(browser, 'c'), [
      '--window-size=1280,2000',
      `--screenshot=${shot}`,
      pathToFileURL(join(out, 'bob', 'index.html')).href,
    ]);
    const png = await readFile(shot);
    assert.deepEqual(pngSize(png), { width: 1280, height: 2000 });
    assert.ok((await stat(shot)).size > 50_000, 'a page of text and tables, not a blank one');
  } finally {
    await removeDir(cls);
    await removeDir(out);
    await removeDir(browser);
  }
});
