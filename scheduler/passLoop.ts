/**
 * A pass run now and then, one at a time: at start, every `intervalMs` after the previous pass
 * ended, and as soon as possible after poke() (a notified change). A poke during a pass runs one
 * more pass right after it, so no change is left for the interval to find. stop() waits for the
 * pass under way. The node's reconciler and its function-call runner loop this way.
 */
export class PassLoop {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  private again = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** True once stop() was called: a long pass checks it to end early. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(): void {
    this.stopped = false;
    this.started = true;
    this.schedule(0);
  }

  poke(): void {
    if (!this.started || this.stopped) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.pass()
        .then(() => undefined, this.onError)
        .finally(() => {
          this.inFlight = undefined;
          const soon = this.again;
          this.again = false;
          this.schedule(soon ? 0 : this.intervalMs);
        });
    }, ms);
  }
}
