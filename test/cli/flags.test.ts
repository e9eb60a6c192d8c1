// The shared option parsers and the words and numbers the commands print.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { duration, listenAddress, parseBoolean, size, target, wholeNumber } from '../../src/cli/flags.js';
import { formatAddress, parseHostPort } from '../../src/net-address.js';
import { formatBytes, formatDuration, nearest, plural } from '../../src/text.js';

describe('option parsers', () => {
  test('wholeNumber: digits within the range, nothing else', () => {
    const port = wholeNumber(0, 65535);
    assert.equal(port('0'), 0);
    assert.equal(port(' 12100 '), 12100);
    for (const bad of ['', '-1', '65536', '1.5', '1e3', '0x10', 'ten']) {
      assert.throws(
        () => port(bad),
        (e: Error) => e instanceof InvalidArgumentError && /whole number from 0 to 65535/.test(e.message),
        bad,
      );
    }
  });

  test("duration: units, or the flag's own unit for a bare number; returns milliseconds", () => {
    const seconds = duration('s', 0, 86_400_000);
    assert.equal(seconds('10'), 10_000);
    assert.equal(seconds('1.5'), 1500);
    assert.equal(seconds('500ms'), 500);
    assert.equal(seconds('30s'), 30_000);
    assert.equal(seconds('2m'), 120_000);
    assert.equal(seconds('2min'), 120_000);
    assert.equal(seconds('1h'), 3_600_000);
    assert.equal(seconds('0'), 0);
    const millis = duration('ms', 100, 600_000);
    assert.equal(millis('250'), 250);
    assert.equal(millis('2s'), 2000);
    for (const bad of ['', 'soon', '5x', '-1s', '1 2', 's']) {
      assert.throws(
        () => seconds(bad),
        /expected a duration .* such as 500ms, 30s or 2m \(a bare number is in seconds\)/,
        bad,
      );
    }
    assert.throws(() => millis('50'), /from 100 ms to 10 min/);
    assert.throws(() => millis('11m'), /from 100 ms to 10 min .*a bare number is in milliseconds/);
  });

  test('size: suffixes K, M, G, T (1024) and KB, MB (1000), any case', () => {
    const bytes = size(Number.MAX_SAFE_INTEGER);
    assert.equal(bytes('512'), 512);
    assert.equal(bytes('512k'), 512 * 1024);
    assert.equal(bytes('100M'), 100 * 1024 ** 2);
    assert.equal(bytes('4GiB'), 4 * 1024 ** 3);
    assert.equal(bytes('4 GiB'), 4 * 1024 ** 3);
    assert.equal(bytes('1.5K'), 1536);
    assert.equal(bytes('2MB'), 2_000_000);
    assert.equal(bytes('1T'), 1024 ** 4);
    for (const bad of ['', 'lots', '10X', '-1', '1.3k', '5 bytes']) {
      assert.throws(() => bytes(bad), /such as 512, 512k, 100M or 4GiB/, bad);
    }
    assert.throws(() => size(1024)('2k'), /up to 1\.0 KiB/);
  });

  test('boolean environment values', () => {
    for (const on of ['1', 'true', 'TRUE', 'yes', 'on', ' On ']) assert.equal(parseBoolean(on), true, on);
    for (const off of ['0', 'false', 'no', 'off', 'OFF']) assert.equal(parseBoolean(off), false, off);
    for (const bad of ['', '2', 'y', 'enabled', 'maybe']) assert.equal(parseBoolean(bad), undefined, bad);
  });

  test('host:port: one parser for listening (--metrics) and for reaching a server (check)', () => {
    assert.deepEqual(parseHostPort('127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseHostPort('[::1]:9464'), { host: '::1', port: 9464 });
    assert.deepEqual(parseHostPort(':9464'), { port: 9464 });
    assert.deepEqual(parseHostPort('9464'), { port: 9464 });
    assert.deepEqual(listenAddress('0'), { port: 0 });
    assert.deepEqual(target('[::1]:12100'), { host: '::1', port: 12100 });
    assert.deepEqual(target('12100'), { host: 'localhost', port: 12100 });
    for (const bad of ['::1:12100', 'host:', 'host:99999', 'a:b:c', ''])
      assert.throws(() => parseHostPort(bad), TypeError, bad);
    assert.throws(() => target('host:0'), /expected HOST:PORT/);
  });

  test('addresses print IPv6 in brackets', () => {
    assert.equal(formatAddress('::1', 12100), '[::1]:12100');
    assert.equal(formatAddress('127.0.0.1', 12100), '127.0.0.1:12100');
    assert.equal(formatAddress('localhost', 0), 'localhost:0');
  });
});

describe('words and numbers', () => {
  test('plural', () => {
    assert.equal(plural(0, 'connection'), '0 connections');
    assert.equal(plural(1, 'connection'), '1 connection');
    assert.equal(plural(2, 'file'), '2 files');
    assert.equal(plural(2, 'child', 'children'), '2 children');
  });

  test('formatBytes: binary units, one decimal', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(400_003_099), '381.5 MiB');
    assert.equal(formatBytes(4 * 1024 ** 3), '4.0 GiB');
  });

  test('formatDuration: the unit a person would use', () => {
    assert.equal(formatDuration(0), '0 ms');
    assert.equal(formatDuration(250), '250 ms');
    assert.equal(formatDuration(1234), '1.2 s');
    assert.equal(formatDuration(10_000), '10 s');
    assert.equal(formatDuration(120_000), '2 min');
    assert.equal(formatDuration(90_000), '1 min 30 s');
    assert.equal(formatDuration(3_600_000), '1 h');
  });

  test('nearest: a plausible typo, or nothing', () => {
    const commands = ['send', 'receive', 'check', 'check-client', 'completion', 'help'];
    assert.equal(nearest('sned', commands), 'send');
    assert.equal(nearest('recieve', commands), 'receive');
    assert.equal(nearest('chek', commands), 'check');
    assert.equal(nearest('check-clinet', commands), 'check-client');
    assert.equal(nearest('xyzzy', commands), undefined);
  });
});
