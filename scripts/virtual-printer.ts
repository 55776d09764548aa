/**
 * `npm run virtual-printer`: a network receipt printer on this machine, for trying Printhop without one.
 * Point an agent at it with PRINTER=tcp://127.0.0.1:9100; type a condition + Enter to change what it
 * answers to status requests.
 */
import readline from 'node:readline';
import { loadVirtualPrinterConfig } from '../config';
import { loadOrExit } from '../config';
import { isVirtualCondition, VIRTUAL_CONDITIONS, VirtualPrinter } from '../agent/virtual-printer';

const config = loadOrExit('printhop virtual printer', () => loadVirtualPrinterConfig());

const printer = new VirtualPrinter({
  host: config.host,
  port: config.port,
  condition: config.condition,
  show: (text) => console.log(text),
});
await printer.start();
console.log(`[virtual printer] listening on tcp://${config.host}:${printer.port} (condition: ${printer.condition})`);
console.log(
  `[virtual printer] agent setting: PRINTER=tcp://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${printer.port}`,
);
console.log(
  `[virtual printer] type one of ${VIRTUAL_CONDITIONS.join(', ')} and Enter to change what it answers; Ctrl+C stops it`,
);

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  const word = line.trim();
  if (!word) return;
  if (isVirtualCondition(word)) printer.setCondition(word);
  else console.log(`[virtual printer] unknown condition "${word}"; one of ${VIRTUAL_CONDITIONS.join(', ')}`);
});

const stop = () => {
  input.close();
  printer.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
