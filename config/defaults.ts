/**
 * Every setting of Printhop with its default. Environment variables of the same name override them
 * (see README, "Settings"). Units are in the names.
 */
export const serverDefaults = {
  /** HTTP port of the page, the API and MQTT over WebSocket (`/mqtt`). 0 picks a free port. */
  PORT: 3000,
  /** Address the HTTP and MQTT listeners bind to. */
  HOST: '0.0.0.0',
  /** Plain TCP MQTT port, for agents and `mosquitto_sub`/`mosquitto_pub`. 0 picks a free port; -1 turns it off. */
  MQTT_PORT: 1883,
  /** An existing broker (`mqtt://host:1883`) to use instead of the embedded one; empty embeds Aedes. */
  MQTT_URL: '',
  /** Credentials of the server on that broker. */
  MQTT_USERNAME: '',
  MQTT_PASSWORD: '',
  /**
   * MQTT passwords of agents on an external broker, `printer-1:TOKEN,printer-2:TOKEN`: what
   * `npm run mosquitto-files` writes into Mosquitto's password file.
   */
  PRINTER_TOKENS: '',
  /** Password of the read-only `debug` MQTT account on an external broker; empty: no debug account. */
  MQTT_DEBUG_PASSWORD: '',
  /** Folder of the SQLite database (and, with `npm start`, the virtual printer's file). */
  DATA_DIR: './data',
  /** `postgres://user:password@host:5432/db`: PostgreSQL instead of the SQLite file in DATA_DIR (needed for several instances). */
  DATABASE_URL: '',
  /**
   * Unfinished jobs of an online printer not updated for this long are published again (by one
   * instance): what a crashed instance left unpublished or unacknowledged. 0 turns it off.
   */
  REPUBLISH_STALE_MS: 60_000,
  /** Printer a job goes to when the request names none. */
  DEFAULT_PRINTER_ID: 'printer-1',
  /** Printers known before any of them has been seen online (comma separated). */
  PRINTERS: 'printer-1',
  /** Largest accepted HTTP request body. */
  BODY_LIMIT_BYTES: 16 * 1024,
  /** `trace` | `debug` | `info` | `warn` | `error` | `fatal` | `silent`. */
  LOG_LEVEL: 'info',
  /** Paper width the page's receipt preview uses until the printer's agent reports its own. */
  PAPER_COLUMNS: 48,
} as const;

export const agentDefaults = {
  /** Where the server's broker is: `ws://host:3000/mqtt` or `mqtt://host:1883`. */
  MQTT_URL: 'ws://localhost:3000/mqtt',
  /** MQTT user name and password (not needed by the embedded broker's default setup). */
  MQTT_USERNAME: '',
  MQTT_PASSWORD: '',
  /** This agent's printer, 1-64 of `[A-Za-z0-9_-]`. */
  PRINTER_ID: 'printer-1',
  /** `/dev/usb/lp0` | `usb` | `usb:VID:PID` | `tcp://host:9100` | `file:PATH`. */
  PRINTER: '/dev/usb/lp0',
  /** Characters per line: 48 for 80 mm paper, 32 for 58 mm (`80mm`/`58mm` are accepted too). */
  PAPER_COLUMNS: 48,
  /** `PC858` | `PC850` | `PC437` | `WPC1252` | `PC860` | `PC863`. */
  CODEPAGE: 'PC858',
  /** Folder of the agent's journal. */
  AGENT_DATA_DIR: './data/agent',
  /** Opening or writing to the printer that takes longer than this fails. */
  PRINTER_TIMEOUT_MS: 10_000,
  /** How long a job waits for an unavailable printer (retrying with backoff) before it is `failed`. */
  PRINTER_RETRY_LIMIT_MS: 600_000,
  /** First reconnect delay to the broker; it doubles up to RECONNECT_MAX_MS, with jitter. */
  RECONNECT_MIN_MS: 500,
  RECONNECT_MAX_MS: 30_000,
  /** Journal entries of finished jobs older than this are forgotten. */
  JOURNAL_RETENTION_DAYS: 30,
  /** IANA time zone of the receipt's date; empty means the machine's local time. */
  TZ: '',
  LOG_LEVEL: 'info',
} as const;
