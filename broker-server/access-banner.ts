/**
 * What the server prints on its standard output at start-up (never in the log): a mosquitto_sub command
 * for the debug account and each printer's agent settings, ready to copy.
 */
import type { ServerConfig } from '../config';
import type { MqttAccounts } from './broker/tokens';

export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export function mosquittoSubCommand(host: string, mqttPort: number, accounts: MqttAccounts): string {
  const { username, password } = accounts.credentialsFor({ kind: 'debug' });
  return `mosquitto_sub -h ${shellQuote(host)} -p ${mqttPort} -u ${shellQuote(username)} -P ${shellQuote(password)} -t 'printers/#' -v`;
}

export function accessBanner(
  config: Pick<ServerConfig, 'host'>,
  ports: { httpPort: number; mqttPort: number | null },
  accounts: MqttAccounts,
  /** Which printer tokens still open their account (the registry's, once rotated or removed, may differ from the file's). */
  stillValid: (printerId: string, token: string) => boolean = () => true,
  admin: { password: string; file: string | null } | null = null,
): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const lines = ['', `  MQTT accounts (tokens kept in ${accounts.file}, readable by this user only):`];
  lines.push(
    ports.mqttPort === null
      ? '  Watch traffic:  (plain TCP MQTT is off: set MQTT_PORT to use mosquitto_sub)'
      : `  Watch traffic:  ${mosquittoSubCommand(host, ports.mqttPort, accounts)}`,
  );
  for (const printerId of accounts.printerIds) {
    const { password } = accounts.credentialsFor({ kind: 'printer', printerId });
    if (!stillValid(printerId, password)) continue;
    lines.push(
      `  Agent ${printerId}: MQTT_URL=ws://${host}:${ports.httpPort}/mqtt PRINTER_ID=${printerId} MQTT_PASSWORD=${shellQuote(password)} npm run agent`,
    );
  }
  lines.push("  (on another machine, use this server's address instead of " + host + ')');
  if (admin) {
    lines.push(
      `  Admin (printers: add, rotate, remove): http://${host}:${ports.httpPort}/admin  password ${shellQuote(admin.password)}${admin.file ? ` (kept in ${admin.file})` : ''}`,
    );
    lines.push('  or: npm run printers -- list | add ID | rotate ID | remove ID');
  }
  lines.push('');
  return lines.join('\n');
}
