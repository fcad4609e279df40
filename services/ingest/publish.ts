/**
 * Publishing one request's frames, with a deadline. In order, one after the other: the frames of
 * a request come from one device, and packets.raw should hold them in the order it sent them
 * (arm before fire before complete); concurrency comes from the requests of other devices.
 *
 * The deadline bounds how long a device waits while Redis is down or packets.raw is over its
 * high-water mark (the channel's publish would otherwise wait for room forever). A publish that
 * missed its deadline keeps waiting in the background (it cannot be withdrawn) and may still
 * land: at-least-once, state drops the repeat by sequence. While one is stalled like that, new
 * requests are refused at once instead of piling up more waiting publishes, each of which polls
 * the backlog.
 */

export class PublishFailed extends Error {
  override readonly name = 'PublishFailed';
}

export class FramePublisher<M> {
  /** Publishes that missed their deadline and have not settled yet. */
  private stalled = 0;

  constructor(
    private readonly publish: (message: M) => Promise<void>,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Resolves when every message is published; rejects with the publish's own error or a
   * PublishFailed (deadline passed, or an earlier publish still stalled).
   */
  async publishAll(messages: M[]): Promise<void> {
    if (messages.length === 0) return;
    if (this.stalled > 0) throw new PublishFailed(`${this.stalled} earlier publish(es) still waiting for room (Redis unreachable or consumers not keeping up)`);
    let expired = false;
    const work = (async () => {
      for (const m of messages) {
        if (expired) return;
        await this.publish(m);
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        this.stalled++;
        // The loser of the race must not become an unhandled rejection, which would crash the process.
        work.then(
          () => this.stalled--,
          () => this.stalled--,
        );
        reject(new PublishFailed(`not published within ${this.timeoutMs} ms (Redis unreachable or consumers not keeping up)`));
      }, this.timeoutMs);
    });
    try {
      await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}
