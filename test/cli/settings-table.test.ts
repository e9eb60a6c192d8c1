// The settings tables (src/server/settings.ts, src/client/settings.ts) against everything made from
// them or written after them: the library's checks and defaults, `linedrop receive --help` and
// `send --help`, the shell completion, and the README's flag tables. A setting changed in one place
// and not the others fails here.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { serverSettings } from '../../src/server/options.js';
import { formatSetting, type NumberSetting } from '../../src/setting-table.js';
import { SERVER_SETTINGS, type ServerSettingName } from '../../src/server/settings.js';
import { CLIENT_SETTINGS } from '../../src/client/settings.js';
import { connectSettings } from '../../src/client/options.js';
import { ROOT } from '../support.js';
import { linedrop } from './run.js';

const SETTINGS = Object.entries(SERVER_SETTINGS) as [ServerSettingName, NumberSetting][];
const oneLine = (text: string): string => text.replace(/\s+/g, ' ');
const flagName = (setting: NumberSetting): string => setting.flag.split(' ')[0]!;

/** The settings `serverSettings()` resolves, by their name in `ServerSettings`. */
const LIBRARY: Partial<Record<ServerSettingName, (options: Record<string, number>) => number>> = {
  maxLines: (o) => serverSettings({ limits: o }).limits.maxLines,
  maxLineBytes: (o) => serverSettings({ limits: o }).limits.maxLineBytes,
  maxMessageBytes: (o) => serverSettings({ limits: o }).limits.maxMessageBytes,
  idleTimeoutMs: (o) => serverSettings(o).idleTimeoutMs,
  handshakeTimeoutMs: (o) => serverSettings(o).handshakeTimeoutMs,
  maxConnections: (o) => serverSettings(o).maxConnections,
  maxConnectionsPerAddress: (o) => serverSettings(o).maxConnectionsPerAddress,
  maxInFlight: (o) => serverSettings(o).maxInFlight,
};

describe('the server settings table', () => {
  test('the library takes each setting from the table: its default, its bounds, and a RangeError just past them', () => {
    for (const [name, resolve] of Object.entries(LIBRARY) as [
      ServerSettingName,
      (o: Record<string, number>) => number,
    ][]) {
      const setting = SERVER_SETTINGS[name];
      const key = setting.option.replace(/^limits\./, '');
      assert.equal(resolve({}), setting.default, `${name}: default`);
      assert.equal(resolve({ [key]: setting.min }), setting.min, `${name}: the least`);
      assert.equal(resolve({ [key]: setting.max }), setting.max, `${name}: the most`);
      assert.throws(() => resolve({ [key]: setting.min - 1 }), RangeError, `${name}: under the least`);
      if (setting.max < Number.MAX_SAFE_INTEGER)
        assert.throws(() => resolve({ [key]: setting.max + 1 }), RangeError, `${name}: over the most`);
    }
  });

  test('linedrop receive --help shows each flag with its help, default and environment variable', async () => {
    const { code, stdout } = await linedrop(['receive', '--help']).done;
    assert.equal(code, 0);
    const help = oneLine(stdout);
    for (const [, setting] of SETTINGS) {
      const shown = `(default: ${formatSetting(setting)}, env: ${setting.env})`;
      assert.ok(
        help.includes(`${setting.flag} ${oneLine(setting.help)} ${shown}`),
        `--help lacks ${setting.flag} ... ${shown}`,
      );
    }
  });

  test('the command line refuses a value past a bound with exit status 2, naming the flag', async () => {
    for (const [, setting] of SETTINGS.filter(([, s]) => s.unit === 'count')) {
      const { code, stderr } = await linedrop(['receive', flagName(setting), String(setting.max + 1)]).done;
      assert.equal(code, 2, `${setting.flag} ${setting.max + 1}`);
      assert.match(
        stderr,
        new RegExp(`${flagName(setting)} .*expected a whole number from ${setting.min} to ${setting.max}`),
      );
    }
  });

  test('shell completion offers each flag', async () => {
    const { code, stdout } = await linedrop(['completion', 'bash']).done;
    assert.equal(code, 0);
    for (const [, setting] of SETTINGS)
      assert.ok(stdout.includes(flagName(setting)), `bash completion lacks ${flagName(setting)}`);
  });

  test("the README's receive table gives each flag the table's default and environment variable", async () => {
    await checkReadme(
      '| `--store` |',
      SETTINGS.map(([, setting]) => setting),
    );
  });
});

describe('the client settings table', () => {
  const CLIENT = Object.values(CLIENT_SETTINGS) as NumberSetting[];

  test(
    'connectSettings takes each setting from the table: its default, its bounds, a RangeError ' +
      'past them, a TypeError for a string',
    () => {
      for (const setting of CLIENT) {
        const key = setting.option as 'connectTimeoutMs' | 'timeoutMs' | 'maxInFlight';
        assert.equal(connectSettings({})[key], setting.default);
        assert.equal(connectSettings({ [key]: setting.min })[key], setting.min);
        assert.equal(connectSettings({ [key]: setting.max })[key], setting.max);
        assert.throws(() => connectSettings({ [key]: setting.min - 1 }), RangeError);
        assert.throws(() => connectSettings({ [key]: setting.max + 1 }), RangeError);
        assert.throws(() => connectSettings({ [key]: '5' as unknown as number }), {
          name: 'TypeError',
          message: new RegExp(`^${key}: expected .*, not "5"$`),
        });
      }
    },
  );

  test('linedrop send --help shows each flag with its help, default and environment variable', async () => {
    const { code, stdout } = await linedrop(['send', '--help']).done;
    assert.equal(code, 0);
    const help = oneLine(stdout);
    for (const setting of CLIENT) {
      const shown = `(default: ${formatSetting(setting)}, env: ${setting.env})`;
      assert.ok(
        help.includes(`${setting.flag} ${oneLine(setting.help)} ${shown}`),
        `--help lacks ${setting.flag} ... ${shown}`,
      );
    }
  });

  test("the README's send table gives each flag the table's default and environment variable", async () => {
    await checkReadme('| `--retry` |', CLIENT);
  });
});

/**
 * The README's flag table that holds the row starting `marker` gives each setting its default and environment variable.
 */
async function checkReadme(marker: string, settings: readonly NumberSetting[]): Promise<void> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const lines = readme.split('\n');
  const at = lines.findIndex((line) => line.startsWith(marker));
  assert.ok(at > 0, `the README's table with ${marker}`);
  let [start, end] = [at, at];
  while (lines[start - 1]?.startsWith('|')) start--;
  while (lines[end + 1]?.startsWith('|')) end++;
  const table = lines.slice(start, end + 1);
  for (const setting of settings) {
    const rows = table.filter((line) => line.startsWith(`| \`${flagName(setting)}\` |`));
    assert.equal(rows.length, 1, `the README has ${rows.length} rows for ${flagName(setting)} in a flag table`);
    const cells = rows[0]!.split(' | ');
    assert.equal(cells[1], `\`${formatSetting(setting)}\` (\`${setting.env}\`)`, `README row of ${flagName(setting)}`);
  }
}
