/** Server-sent events as the tests read them from a fetch() body: one object a message, fields as sent. */

/** One message of a text/event-stream: its `id`, `event` and `data` (data lines joined with "\n"). */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/**
 * Reads `body` to its end (or its abort, which ends it quietly) and hands each message to `onMessage` as it
 * arrives. Comment lines and unknown fields are left out; a message with no field is not handed over.
 */
export async function readSse(
  body: NonNullable<Response['body']>,
  onMessage: (message: SseMessage) => void,
): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const message: SseMessage = {};
        const data: string[] = [];
        for (const line of block.split('\n')) {
          const m = /^(id|event|data): ?(.*)$/.exec(line);
          if (!m) continue;
          if (m[1] === 'data') data.push(m[2]!);
          else message[m[1] as 'id' | 'event'] = m[2];
        }
        if (data.length) message.data = data.join('\n');
        if (Object.keys(message).length) onMessage(message);
      }
    }
  } catch {
    /* aborted: the test closed the stream */
  }
}
