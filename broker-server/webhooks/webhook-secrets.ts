/**
 * Endpoints' signing secrets: made here (`whsec_` + 32 random bytes in base64, the Standard Webhooks
 * form), shown once by `npm run webhooks -- add`, and stored encrypted (AES-256-GCM) because the server
 * needs them back to sign: a hash would not do. The key is WEBHOOK_SECRET_KEY (the same on every
 * instance), or DATA_DIR/webhook.key, made (mode 0600) on first use, as form-token.key is.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { loadKeyFile } from '../../runtime/file-modes';

export const WEBHOOK_KEY_FILE = 'webhook.key';
const SECRET_PREFIX = 'whsec_';
/** Bound into every ciphertext: a value of another column or program cannot pass for a secret. */
const AAD = Buffer.from('printhop webhook endpoint secret v1');

export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The encryption key: from the setting if given, else from DATA_DIR/webhook.key, created (0600) on first use. */
export function loadWebhookKey(setting: string | null, dataDir: string): { key: SecretBox; modeFixed: boolean } {
  if (setting) return { key: new SecretBox(setting), modeFixed: false };
  const { text, modeFixed } = loadKeyFile(dataDir, WEBHOOK_KEY_FILE, 'a webhook key');
  return { key: new SecretBox(text), modeFixed };
}

export class SecretUnreadable extends Error {
  constructor() {
    super(
      'the endpoint secret cannot be decrypted: WEBHOOK_SECRET_KEY (or DATA_DIR/webhook.key) is not the one it was stored with',
    );
    this.name = 'SecretUnreadable';
  }
}

/** AES-256-GCM with a key derived (HKDF-SHA256) from the setting or file: `v1.<iv>.<tag>.<ciphertext>`, base64url. */
export class SecretBox {
  private readonly key: Buffer;

  constructor(material: string) {
    this.key = Buffer.from(hkdfSync('sha256', material, '', 'printhop webhook secrets', 32));
  }

  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new SecretUnreadable();
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(AAD);
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadable();
    }
  }
}
