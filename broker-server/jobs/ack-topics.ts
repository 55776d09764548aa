/**
 * The printer of an acks topic, on the server's hot path (two or more acks per job): each topic parsed once,
 * not once per ack. The ack's payload is read by protocol/messages.ts's parseAckMessage (a hand-written
 * check of the schema, zod only to word a refusal), the agent's and the server's one reader.
 */
import { parseTopic } from '../../protocol/topics';

/** Topics seen, kept to a bound: a topic is parsed once, not once per ack. */
const ackTopics = new Map<string, string | null>();
const ACK_TOPICS_KEPT = 4096;

/** The printer of a `printers/<id>/acks` topic, or null. */
export function printerOfAckTopic(topic: string): string | null {
  let printerId = ackTopics.get(topic);
  if (printerId === undefined) {
    const parsed = parseTopic(topic);
    printerId = parsed?.kind === 'acks' ? parsed.printerId : null;
    if (ackTopics.size >= ACK_TOPICS_KEPT) ackTopics.clear();
    ackTopics.set(topic, printerId);
  }
  return printerId;
}
