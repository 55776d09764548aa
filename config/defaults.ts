/**
 * Every setting of Printhop with its default. Environment variables of the same name override them
 * (see docs/settings.md). Units are in the names.
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
  /**
   * The server's account on that broker; empty: `printhop-server` with MQTT_SERVER_PASSWORD (or the
   * generated one in DATA_DIR), the account `npm run mosquitto-files` writes.
   */
  MQTT_USERNAME: '',
  MQTT_PASSWORD: '',
  /** Folder of the SQLite database (and, with `npm start`, the virtual printer's file). */
  DATA_DIR: './data',
  /** `postgres://user:password@host:5432/db`: PostgreSQL instead of the SQLite file in DATA_DIR (needed for several instances). */
  DATABASE_URL: '',
  /**
   * The stall watchdog: an unfinished job of an online printer that has not moved for this long (seconds) is
   * published again, by one instance, then after twice as long each time; it is shown as waiting after two
   * tries. It finds what a crashed instance left unpublished or unacknowledged, and jobs an agent lost. 0: off.
   */
  STALL_AFTER_S: 60,
  /** Finished jobs (printed, failed, interrupted) older than this are deleted, hourly; 0 keeps them forever. */
  JOB_RETENTION_DAYS: 90,
  /** Printer a job goes to when the request names none. */
  DEFAULT_PRINTER_ID: 'printer-1',
  /** Printers known before any of them has been seen online (comma separated). */
  PRINTERS: 'printer-1',
  /**
   * Largest accepted HTTP request body. The page's form percent-encodes the message, up to 12 bytes a
   * character (an emoji is %F0%9F%98%80), so 4,000 characters need up to 48,000 bytes.
   */
  BODY_LIMIT_BYTES: 64 * 1024,
  /** `trace` | `debug` | `info` | `warn` | `error` | `fatal` | `silent`. */
  LOG_LEVEL: 'info',
  /** Paper width the page's receipt preview uses until the printer's agent reports its own. */
  PAPER_COLUMNS: 48,
  /**
   * MQTT passwords of agents, `printer-1:TOKEN,printer-2:TOKEN`. A printer of PRINTERS without one gets a
   * generated token, kept in DATA_DIR/mqtt-tokens.json (mode 0600).
   */
  PRINTER_TOKENS: '',
  /** Password of the read-only `debug` MQTT account (for mosquitto_sub); generated when empty. */
  MQTT_DEBUG_PASSWORD: '',
  /** Password of the `printhop-server` MQTT account (the server on an external broker); generated when empty. */
  MQTT_SERVER_PASSWORD: '',
  /** `true` lets the debug account publish jobs by hand on printers/<id>/jobs; it never may by default. */
  MQTT_DEBUG_CAN_PUBLISH: false,
  /** Jobs one client address may create per minute (POST /print, reprint); 0 turns the limit off. */
  PRINT_RATE_PER_MINUTE: 60,
  /** Jobs one client address may create in a burst before PRINT_RATE_PER_MINUTE applies. */
  PRINT_RATE_BURST: 20,
  /** Express's `trust proxy`: empty (off), a number of proxy hops, or addresses such as `loopback`. */
  TRUST_PROXY: '',
  /** How long an `Idempotency-Key` is remembered: the same key within this time returns the same job. */
  IDEMPOTENCY_KEY_HOURS: 24,
  EVENT_REPLAY_HOURS: 24,
  /** What one `GET /jobs/events` replay (Last-Event-ID) sends at most; past it, `event: resync` and on from now. */
  EVENT_REPLAY_MAX_BYTES: 8 * 1024 * 1024,
  /** Bytes a replay may have written that its client has not yet taken; past it, it waits before reading more of the log. */
  EVENT_REPLAY_BUFFER_BYTES: 256 * 1024,
  /** Replays one caller (API key, or client address) may start per minute, and at once; 0 per minute: no limit. */
  EVENT_REPLAYS_PER_MINUTE: 6,
  EVENT_REPLAY_BURST: 10,
  /** Jobs one API key may create per minute (its own limit, shared by every instance on PostgreSQL); 0 turns it off. */
  API_KEY_RATE_PER_MINUTE: 6000,
  /** `true`: the JSON API refuses calls without `Authorization: Bearer <key>` (the page's form stays open). */
  API_KEYS_REQUIRED: false,
  /**
   * Host names the server answers to besides IP literals, `localhost` and this machine's own names (its host
   * name and `<hostname>.local`), comma separated: `printhop.example.com,shop-pc.lan`. Anything else gets 421.
   */
  ALLOWED_HOSTS: '',
  /**
   * Key of the page's form tokens (HMAC-SHA256); empty: generated once in DATA_DIR/form-token.key (mode 0600).
   * Instances behind one address with their own DATA_DIR need the same value.
   */
  FORM_TOKEN_SECRET: '',
  /** Longest receipt a job may print, in lines as laid out for the printer's width (about 4.2 mm a line). */
  RECEIPT_MAX_LINES: 200,
  /** Receipt previews one client address may ask for per minute, and at once: a bucket of their own. */
  PREVIEW_RATE_PER_MINUTE: 120,
  PREVIEW_RATE_BURST: 60,
  /** Live-update streams (/events and /jobs/events) open at once, in all and per client address. */
  MAX_EVENT_STREAMS: 500,
  MAX_EVENT_STREAMS_PER_ADDRESS: 20,
  /** Incoming QoS 1/2 messages one MQTT connection may have unacknowledged (Mosquitto's max_inflight_messages). */
  MQTT_MAX_INFLIGHT: 20,
  /** MQTT connections one account may have open at once. */
  MQTT_MAX_CONNECTIONS_PER_ACCOUNT: 10,
  /** Failed MQTT logins from one address within a minute before it is refused for MQTT_AUTH_BLOCK_SECONDS. */
  MQTT_AUTH_MAX_FAILURES: 10,
  MQTT_AUTH_BLOCK_SECONDS: 30,
  /** Persistent (clean=false) MQTT sessions one account may hold on the embedded broker; an agent needs one. */
  MQTT_MAX_SESSIONS_PER_ACCOUNT: 10,
  /** A persistent session whose client has been away this long is dropped: seconds, or with s, m, h, d. */
  MQTT_SESSION_EXPIRY: '1d',
  /** Messages the embedded broker queues for one persistent session while its client is away. */
  MQTT_MAX_QUEUED_PER_SESSION: 1000,
  /** Password of the admin section (/admin, the admin API, `npm run printers`); empty: generated once into DATA_DIR/admin-password (mode 0600). */
  ADMIN_PASSWORD: '',
  /** An admin session ends this long after login. */
  ADMIN_SESSION_MINUTES: 60,
  /** Wrong admin passwords from one address before it is locked out for ADMIN_LOCKOUT_MINUTES. */
  ADMIN_LOCKOUT_ATTEMPTS: 5,
  ADMIN_LOCKOUT_MINUTES: 15,
  /** When set, GET /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: '',
  /** With MQTT_URL: `true` drives Mosquitto's dynamic security plugin for live printer accounts (deploy/mosquitto/printhop-dynsec.conf). */
  MQTT_DYNSEC: false,
  /** The broker URL shown in a new printer's agent command; empty: ws://<this page's host>/mqtt, or MQTT_URL with an external broker. */
  AGENT_MQTT_URL: '',
  /** On PostgreSQL, how often an instance reads the printer registry again (other instances' changes); 0: only on a miss. */
  REGISTRY_REFRESH_MS: 5000,
  /**
   * Key that encrypts webhook endpoints' signing secrets in the database (16+ characters); empty: generated once
   * in DATA_DIR/webhook.key (mode 0600). Instances sharing one database need the same value.
   */
  WEBHOOK_SECRET_KEY: '',
  /** A webhook request without an answer within this time has failed (and is tried again). */
  WEBHOOK_TIMEOUT_MS: 10_000,
  /** A webhook delivery that keeps failing is tried again, with backoff, for this long after its event, then `failed`. */
  WEBHOOK_RETRY_HOURS: 24,
  /** First wait before a failed webhook delivery is tried again; it doubles (with jitter) up to WEBHOOK_RETRY_MAX_MS. */
  WEBHOOK_RETRY_MIN_MS: 5_000,
  WEBHOOK_RETRY_MAX_MS: 3_600_000,
  /** Webhook requests in flight at once per endpoint, per instance (a slow receiver holds only its own). */
  WEBHOOK_CONCURRENCY: 4,
  /**
   * `true` lets a webhook go to this machine (127.0.0.1, ::1, localhost), a link-local address or the cloud
   * metadata address (169.254.169.254); private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) are always allowed.
   */
  WEBHOOK_ALLOW_PRIVATE: false,
  /** Delivered or failed webhook deliveries keep their payload (the job's text) this many days; the row stays. 0: kept. */
  WEBHOOK_PAYLOAD_DAYS: 3,
  /**
   * Folder holding the agents served at /agents/: `agents/printhop-agent-*` (`npm run build:agents`) and
   * `printhop-agent.mjs` (`npm run build`); empty: the `dist/` folder those commands write.
   */
  AGENTS_DIR: '',
  /** `false`: agents cannot pair with a printed code (`POST /pairing` answers 404); tokens are then given by hand. */
  PAIRING: true,
  /** How long a pairing code may be approved (at most 10 minutes). */
  PAIRING_CODE_SECONDS: 600,
  /** Pairing requests (new codes) one client address may make per minute. */
  PAIRING_RATE_PER_MINUTE: 10,
} as const;

export const agentDefaults = {
  /**
   * The server's address, `http://host:3000`: with no MQTT_PASSWORD and no saved pairing, the agent pairs
   * (prints a code for the admin to approve) and keeps its printer id and token in AGENT_DATA_DIR.
   */
  PRINTHOP_URL: '',
  /** Where the server's broker is: `ws://host:3000/mqtt` or `mqtt://host:1883`. */
  MQTT_URL: 'ws://localhost:3000/mqtt',
  /** MQTT user name (empty: the printer id) and password (this printer's token, printed by the server at start-up). */
  MQTT_USERNAME: '',
  MQTT_PASSWORD: '',
  /** This agent's printer, 1-64 of `[A-Za-z0-9_-]`. */
  PRINTER_ID: 'printer-1',
  /** `/dev/usb/lp0` | `usb` | `usb:VID:PID` | `tcp://host:9100` | `cups:QUEUE` | `cups-raw:QUEUE` | `windows:PRINTER NAME` | `file:PATH`. */
  PRINTER: '/dev/usb/lp0',
  /** CUPS server for `cups:QUEUE` and `cups-raw:QUEUE` (`host`, `host:port` or a socket path); empty means lp's own default. */
  CUPS_SERVER: '',
  /** Characters per line: 48 for 80 mm paper, 42 for 80 mm on a TM-T88V, 32 for 58 mm (`80mm`, `80mm-42`, `58mm` are accepted too). */
  PAPER_COLUMNS: 48,
  /** `PC858` | `PC850` | `PC437` | `WPC1252` | `PC860` | `PC863`. */
  CODEPAGE: 'PC858',
  /** Folder of the agent's journal. */
  AGENT_DATA_DIR: './data/agent',
  /** Opening or writing to the printer that takes longer than this fails. */
  PRINTER_TIMEOUT_MS: 10_000,
  /** How often an idle agent asks a printer that can answer (TCP, /dev/usb/lp0) how it is; 0: only before each job. */
  PRINTER_STATUS_INTERVAL_MS: 30_000,
  /** How long a job waits for an unavailable printer (retrying with backoff) before it is `failed`. */
  PRINTER_RETRY_LIMIT_MS: 600_000,
  /** First wait before trying an unavailable printer again; it doubles up to PRINTER_RETRY_MAX_MS. */
  PRINTER_RETRY_MIN_MS: 500,
  PRINTER_RETRY_MAX_MS: 30_000,
  /** First reconnect delay to the broker; it doubles up to RECONNECT_MAX_MS, with jitter. */
  RECONNECT_MIN_MS: 500,
  RECONNECT_MAX_MS: 30_000,
  /** Journal entries of finished jobs older than this are forgotten. */
  JOURNAL_RETENTION_DAYS: 30,
  /** IANA time zone of the receipt's date; empty means the machine's local time. */
  TZ: '',
  LOG_LEVEL: 'info',
  /** A job whose receipt would be longer than this many lines is not printed (acknowledged `failed`, with the reason). */
  RECEIPT_MAX_LINES: 200,
} as const;

/** `npm run virtual-printer`: a TCP 9100 receipt printer that shows receipts as text. */
export const virtualPrinterDefaults = {
  /** Address it listens on; 0.0.0.0 lets an agent on another machine print to it. */
  VIRTUAL_PRINTER_HOST: '127.0.0.1',
  /** Its TCP port (9100, like a network printer; 0 picks a free one). */
  VIRTUAL_PRINTER_PORT: 9100,
  /** What it answers to status requests at start: `ok` `paper-low` `paper-out` `cover-open` `offline` `silent`. */
  VIRTUAL_PRINTER_STATE: 'ok',
} as const;
