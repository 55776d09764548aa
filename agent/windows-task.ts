/**
 * `printhop-agent.exe --install` / `--uninstall` on Windows: a scheduled task "Printhop agent" that starts the
 * agent at boot, before anyone logs in, as SYSTEM, restarted if it stops, with no time limit (a task made
 * with `schtasks /Create /SC ONSTART` alone is stopped after 3 days: hence the task's XML), its output kept in
 * agent.log next to the executable. Registered with `schtasks.exe /Create /XML`, which every Windows since
 * Vista has (and Wine too); run as administrator.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const TASK_NAME = 'Printhop agent';

const xmlText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The task: cmd.exe runs the agent with its output appended to agent.log, from the executable's folder. */
export function taskXml(executable: string): string {
  const folder = path.win32.dirname(executable);
  const log = path.win32.join(folder, 'agent.log');
  // cmd /c "…": the outer quotes are cmd's own, so the quoted paths inside keep their spaces.
  const args = `/c ""${executable}" >> "${log}" 2>&1"`;
  return `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Printhop agent: prints this PC's receipts (${xmlText(executable)})</Description>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-18</UserId>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>cmd.exe</Command>
      <Arguments>${xmlText(args)}</Arguments>
      <WorkingDirectory>${xmlText(folder)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
`;
}

type Say = (line: string) => void;

async function schtasks(args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('schtasks.exe', args, { windowsHide: true });
    return { ok: true, output: `${stdout}${stderr}`.trim() };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message };
  }
}

/** Registers (or replaces) the task and starts it now. True when registered. */
export async function installTask(executable: string, say: Say): Promise<boolean> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-')), 'task.xml');
  // UTF-16 LE with its BOM, as the XML declares and schtasks expects.
  fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(taskXml(executable), 'utf16le')]));
  try {
    const created = await schtasks(['/Create', '/TN', TASK_NAME, '/XML', file, '/F']);
    if (!created.ok) {
      say(`printhop agent: the task could not be registered (run this as administrator): ${created.output}`);
      return false;
    }
    say(`printhop agent: task "${TASK_NAME}" registered: the agent starts with Windows, as SYSTEM.`);
    const started = await schtasks(['/Run', '/TN', TASK_NAME]);
    say(
      started.ok
        ? `printhop agent: started; its log: ${path.win32.join(path.win32.dirname(executable), 'agent.log')}`
        : 'printhop agent: not started now (it will be at the next start of Windows): run printhop-agent.exe to start it now.',
    );
    return true;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

/** Stops and removes the task. True when removed. */
export async function uninstallTask(say: Say): Promise<boolean> {
  await schtasks(['/End', '/TN', TASK_NAME]);
  const deleted = await schtasks(['/Delete', '/TN', TASK_NAME, '/F']);
  if (!deleted.ok) {
    say(`printhop agent: the task could not be removed (run this as administrator): ${deleted.output}`);
    return false;
  }
  say(`printhop agent: task "${TASK_NAME}" removed. Its settings, journal and pairing stay in this folder.`);
  return true;
}
