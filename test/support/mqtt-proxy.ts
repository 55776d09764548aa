/**
 * A TCP proxy the test controls, between an MQTT client (the agent) and the broker. `cut()` drops every
 * connection and refuses new ones until `restore()`; `dropFromClient` swallows chosen MQTT packets on their
 * way to the broker, read with `mqtt-packet` (the parser mqtt.js and aedes use).
 */
import net from 'node:net';
import type { TestContext } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';

export type { Packet };

export class MqttProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private isCut = false;
  /** Packets from the client for which this answers true never reach the broker. */
  dropFromClient: ((packet: Packet) => boolean) | null = null;
  dropped = 0;
  connections = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(t: TestContext): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    t.after(() => this.stop());
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.isCut) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    upstream.pipe(client);
    // Every packet from the client is read whole, then passed on (written again by mqtt-packet) or swallowed.
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      if (this.dropFromClient?.(packet)) this.dropped++;
      else upstream.write(mqttPacket.generate(packet));
    });
    parser.on('error', () => close());
    client.on('data', (data: Buffer) => parser.parse(data));
  }

  /** The network goes away: open connections die and new ones are refused. */
  cut(): void {
    this.isCut = true;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
