/**
 * docs/settings.md is the settings' reference for people, config/defaults.ts for the programs: each setting is
 * written in both, so they are checked against each other here (names both ways, and every default the page
 * spells out as a value).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { agentDefaults, serverDefaults, virtualPrinterDefaults } from '../../config/defaults';

const page = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/settings.md'), 'utf8');

interface Row {
  names: string[];
  defaults: string[];
}

/** The rows of the table that follows the bold heading `**<title>**`. */
function table(title: string): Row[] {
  const start = page.indexOf(`**${title}**`);
  assert.notEqual(start, -1, `docs/settings.md has a "${title}" table`);
  const rows: Row[] = [];
  const lines = page.slice(start).split('\n').slice(1);
  let inTable = false;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line.split('|').map((cell) => cell.trim());
    const [first = '', second = ''] = cells.slice(1);
    if (first === 'variable' || first.startsWith('---')) continue;
    const names = [...first.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
    const defaults = second.split(/,\s+(?=`)/).map((part) => part.trim());
    rows.push({ names, defaults });
  }
  return rows;
}

/** What a default cell says the value is, or undefined when it describes it in words ("the printer id"). */
function spelled(cell: string): string | undefined {
  if (/^(empty|generated)\b/.test(cell)) return '';
  const value = /^`([^`]*)`$/.exec(cell);
  return value ? value[1] : undefined;
}

const cases = [
  ['Server', serverDefaults],
  ['Agent', agentDefaults],
  ['Virtual printer', virtualPrinterDefaults],
] as const;

for (const [title, defaults] of cases) {
  test(`docs/settings.md lists every ${title.toLowerCase()} setting of config/defaults.ts, and only those`, () => {
    const documented = table(title).flatMap((row) => row.names);
    const known = Object.keys(defaults);
    assert.deepEqual(
      known.filter((name) => !documented.includes(name)),
      [],
      'settings in config/defaults.ts missing from docs/settings.md',
    );
    assert.deepEqual(
      documented.filter((name) => !known.includes(name) && name !== 'TZ'),
      [],
      'settings in docs/settings.md that config/defaults.ts does not have',
    );
  });

  test(`docs/settings.md gives each ${title.toLowerCase()} setting the default of config/defaults.ts`, () => {
    const wrong: string[] = [];
    for (const row of table(title)) {
      row.names.forEach((name, i) => {
        if (!(name in defaults)) return;
        const cell = row.defaults.length === row.names.length ? row.defaults[i]! : row.defaults[0]!;
        const said = spelled(cell);
        const actual = String((defaults as Record<string, unknown>)[name]);
        if (said !== undefined && said !== actual) wrong.push(`${name}: page says ${cell}, defaults.ts has ${actual}`);
      });
    }
    assert.deepEqual(wrong, []);
  });
}
