/**
 * The settings' own rules (what zod's built-in checks do not say), shared by the zod schemas and the agent's
 * hand-written check (config/agent.ts) so that both accept the same values and word a refusal alike. No zod here.
 */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const PRINTER_ID_RULE = 'must be 1-64 characters of A-Z a-z 0-9 _ -';

export const BROKER_URL_RULE = 'must be a mqtt://, mqtts://, ws:// or wss:// URL';
export const isBrokerUrl = (s: string) => /^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(s);

/** Node's URL parser must read it as it is: mqtt.js and pg would otherwise fall back to url.parse, whose warnings and errors print the whole URL. */
export const PARSABLE_RULE =
  'is not a valid URL: percent-encode reserved characters of the user name and password (# as %23, @ as %40, / as %2F, : as %3A)';
export const isParsableUrl = (s: string) => URL.canParse(s) && Boolean(new URL(s).hostname);

export const PRINTHOP_URL_RULE = 'must be empty or an http:// or https:// URL';
export const isPrinthopUrl = (s: string) => s === '' || (/^https?:\/\/.+/.test(s) && URL.canParse(s));

export const PRINTER_SPEC_RULE =
  'must be usb, usb:VID:PID (hex), tcp://host:9100, cups:QUEUE, cups-raw:QUEUE, windows:PRINTER NAME (windows: alone: the default printer), file:PATH or a device path such as /dev/usb/lp0';
export const isPrinterSpec = (s: string) =>
  s === 'usb' ||
  /^usb:[0-9a-fA-F]{1,4}:[0-9a-fA-F]{1,4}$/.test(s) ||
  /^tcp:\/\/[^/:]+(:\d+)?\/?$/.test(s) ||
  /^cups:[^\s/#]{1,127}$/.test(s) ||
  /^cups-raw:[^\s/#]{1,127}$/.test(s) ||
  /^windows:\P{Cc}{0,255}$/u.test(s) ||
  /^file:.+/.test(s) ||
  s.startsWith('/');

export const TIME_ZONE_RULE = 'must be an IANA time zone such as Europe/Paris';
/** Intl (ICU's locale data, about 8 MB) is loaded only for a TZ that is set. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const COLUMNS_MIN_RULE = 'must be at least 16 (or 58mm, 80mm, 80mm-42)';
export const RECONNECT_RULE = 'must be at least RECONNECT_MIN_MS';
export const PRINTER_RETRY_RULE = 'must be at least PRINTER_RETRY_MIN_MS';
