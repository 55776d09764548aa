/** `npm run printers -- …` (and `node dist/printers.mjs …` in the images): the printer registry from a shell. */
import { runPrintersCommand } from './printers-command';

runPrintersCommand(process.argv.slice(2)).then(
  ({ code, out }) => {
    (code === 0 ? process.stdout : process.stderr).write(out + '\n');
    process.exit(code);
  },
  (err: unknown) => {
    console.error('printhop printers failed:', err);
    process.exit(1);
  },
);
