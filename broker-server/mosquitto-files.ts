/**
 * `npm run mosquitto-files [-- --out DIR]`: Mosquitto's password file and ACL file for the accounts of
 * the server's own token store (DATA_DIR/mqtt-tokens.json, with what PRINTERS, PRINTER_TOKENS,
 * MQTT_DEBUG_PASSWORD and MQTT_SERVER_PASSWORD configure; missing tokens are generated there, as the
 * server would): every printer, `debug`, and the server account (MQTT_USERNAME/MQTT_PASSWORD when set).
 * With --out, writes DIR/printhop.passwd (mode 0600) and DIR/printhop.acl; without, prints both.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadServerConfig } from '../config';
import { loadOrExit } from '../config';
import { brokerAccountsFromConfig, mosquittoAccessFiles } from './broker/mosquitto-access';
import { loadTokens, serverBrokerCredentials } from './broker/tokens';

export const PASSWORD_FILE = 'printhop.passwd';
export const ACL_FILE = 'printhop.acl';

function main(args: string[]): number {
  const outIndex = args.indexOf('--out');
  const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (args.includes('--help') || (outIndex >= 0 && !out)) {
    console.error(
      'usage: npm run mosquitto-files [-- --out DIR]   (settings: DATA_DIR, PRINTERS, PRINTER_TOKENS, MQTT_DEBUG_PASSWORD, MQTT_SERVER_PASSWORD, MQTT_USERNAME, MQTT_PASSWORD)',
    );
    return 2;
  }
  const config = loadOrExit('printhop mosquitto-files', () => loadServerConfig());
  const { accounts: store } = loadTokens(config);
  const server = serverBrokerCredentials(config, store);
  const { accounts, problems } = brokerAccountsFromConfig({
    printers: store.printerIds,
    printerTokens: Object.fromEntries(
      store.printerIds.map((printerId) => [printerId, store.credentialsFor({ kind: 'printer', printerId }).password]),
    ),
    mqttUsername: server.username,
    mqttPassword: server.password,
    mqttDebugPassword: store.credentialsFor({ kind: 'debug' }).password,
  });
  if (problems.length) {
    console.error(`printhop mosquitto-files:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    return 2;
  }
  const files = mosquittoAccessFiles(accounts);
  if (!out) {
    process.stdout.write(
      `# ---- ${PASSWORD_FILE} (password_file) ----\n${files.passwordFile}\n# ---- ${ACL_FILE} (acl_file) ----\n${files.aclFile}`,
    );
    return 0;
  }
  fs.mkdirSync(out, { recursive: true });
  const passwordPath = path.join(out, PASSWORD_FILE);
  fs.writeFileSync(passwordPath, files.passwordFile, { mode: 0o600 });
  fs.chmodSync(passwordPath, 0o600);
  fs.writeFileSync(path.join(out, ACL_FILE), files.aclFile, { mode: 0o644 });
  console.error(
    `wrote ${passwordPath} and ${path.join(out, ACL_FILE)} (${accounts.printers.length} printers${accounts.debug ? ', debug' : ''}, ${accounts.server.username})`,
  );
  return 0;
}

process.exitCode = main(process.argv.slice(2));
