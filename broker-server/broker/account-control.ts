/** How the broker follows the printer registry (printers/printer-registry.ts): the embedded broker's kick, or Mosquitto's dynamic security. */

/** What the broker side does when the registry changes. */
export interface BrokerAccountControl {
  readonly name: string;
  /**
   * True when the broker authenticates against this registry (the embedded broker): the database changes
   * first and the control only closes connections. Otherwise the broker holds its own accounts and is
   * changed first, so that a refusal there leaves the registry untouched.
   */
  readonly readsRegistry?: boolean;
  /** A new account; throws if the broker refused (nothing is stored then). */
  addPrinter(printerId: string, token: string): Promise<void>;
  /** The account's new token; its open connections are closed. */
  setToken(printerId: string, token: string): Promise<void>;
  /** The account is gone and its open connections closed. */
  removePrinter(printerId: string): Promise<void>;
}
