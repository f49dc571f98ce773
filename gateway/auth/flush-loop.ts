/**
 * The schedule of a recorder that batches what requests used and writes it
 * to the store: `flush` every `everyMs` (without keeping the process alive),
 * and on `close` the write in progress finishes before one last flush, so
 * nothing counted is lost on a clean shutdown.
 */
export class FlushLoop {
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(everyMs: number, private readonly flush: () => Promise<void>) {
    this.timer = setInterval(() => void flush(), everyMs);
    this.timer.unref();
  }

  /** A write started by `flush`: writes follow one another, and `close` waits for this one. */
  track(write: Promise<void>): Promise<void> {
    this.writing = this.writing.then(() => write);
    return write;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush();
  }
}
