/**
 * The persistent subscriptions matching a topic, remembered until a subscription changes. Aedes asks its
 * persistence for them on every QoS 1 publish (to queue the message for sessions that are away): three
 * times a job (the job, its `received` and `printed` acks), each a match in the persistence's topic trie,
 * while the subscriptions themselves change only when a client subscribes, unsubscribes or connects clean.
 * Any such change forgets every answer, and an answer computed while one was under way is not kept.
 */

/** The parts of Aedes's persistence (aedes-persistence) that read and change subscriptions. */
export interface SubscriptionStore {
  subscriptionsByTopic(topic: string): Promise<unknown[]>;
  addSubscriptions(client: unknown, subs: unknown[]): Promise<unknown>;
  removeSubscriptions(client: unknown, subs: unknown[]): Promise<unknown>;
  cleanSubscriptions(client: unknown): Promise<unknown>;
}

/** Topics remembered at most; past it the memory starts again (a broker sees a few topics per printer). */
const TOPICS_KEPT = 4096;

/**
 * Wraps `persistence` in place (and returns it). Aedes calls these without callbacks and uses their
 * promises, and only reads the arrays it is given (it filters into new ones), so one answer may be shared.
 */
export function rememberSubscriptionLookups<P extends SubscriptionStore>(persistence: P): P {
  const lookup = persistence.subscriptionsByTopic.bind(persistence);
  const answers = new Map<string, unknown[]>();
  let generation = 0;
  const forget = () => {
    generation++;
    answers.clear();
  };
  const changing =
    <A extends unknown[]>(change: (...args: A) => Promise<unknown>) =>
    async (...args: A): Promise<unknown> => {
      forget();
      try {
        return await change(...args);
      } finally {
        forget();
      }
    };
  persistence.addSubscriptions = changing(persistence.addSubscriptions.bind(persistence));
  persistence.removeSubscriptions = changing(persistence.removeSubscriptions.bind(persistence));
  persistence.cleanSubscriptions = changing(persistence.cleanSubscriptions.bind(persistence));
  persistence.subscriptionsByTopic = async (topic) => {
    const known = answers.get(topic);
    if (known) return known;
    const asked = generation;
    const subs = await lookup(topic);
    if (asked === generation) {
      if (answers.size >= TOPICS_KEPT) answers.clear();
      answers.set(topic, subs);
    }
    return subs;
  };
  return persistence;
}
