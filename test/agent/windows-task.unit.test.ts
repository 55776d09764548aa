/** The scheduled task `printhop-agent.exe --install` registers: what Wine cannot keep is checked here. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taskXml } from '../../agent/windows-task';

test('the task starts at boot as SYSTEM, never times out, restarts, and logs next to the executable', () => {
  const xml = taskXml('C:\\Program Files\\Printhop & Co\\printhop-agent.exe');
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-16"\?>\n<Task version="1.2" /);
  assert.match(xml, /<BootTrigger>\s*<Enabled>true<\/Enabled>\s*<\/BootTrigger>/);
  assert.match(xml, /<UserId>S-1-5-18<\/UserId>/, 'SYSTEM');
  assert.match(xml, /<ExecutionTimeLimit>PT0S<\/ExecutionTimeLimit>/, 'no 3-day limit');
  assert.match(xml, /<RestartOnFailure>\s*<Interval>PT1M<\/Interval>\s*<Count>999<\/Count>/);
  assert.match(xml, /<DisallowStartIfOnBatteries>false<\/DisallowStartIfOnBatteries>/);
  assert.match(xml, /<Command>cmd\.exe<\/Command>/);
  // Paths with spaces and & quoted for cmd, escaped for XML.
  assert.ok(
    xml.includes(
      '<Arguments>/c ""C:\\Program Files\\Printhop &amp; Co\\printhop-agent.exe" &gt;&gt; "C:\\Program Files\\Printhop &amp; Co\\agent.log" 2&gt;&amp;1"</Arguments>',
    ),
    xml,
  );
  assert.match(xml, /<WorkingDirectory>C:\\Program Files\\Printhop &amp; Co<\/WorkingDirectory>/);
});
