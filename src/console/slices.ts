/**
 * Long work (a filtered page's scan of the whole index, an export) runs in slices that take turns: at most one
 * slice per turn of the event loop, each about `sliceMs`, and between two slices Node reads and answers whatever
 * else has arrived. So a small request (the overview) waits for one slice, never for every scan and export in
 * progress. Waiting slices run in the order they asked, so concurrent long requests share the time evenly.
 *
 * The rule for callers: `await next()` before long work starts and again after awaiting anything else (a socket's
 * drain), then `await pause()` every so often; pause() goes on at once until the slice is used up.
 */
export class TimeSlices {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;
  private sliceStart = -Infinity;

  /**
   * 5 ms: short, because libuv accepts one new connection per turn of the event loop (libuv/libuv#3696), so a request on a new
   * connection waits a turn for each connection ahead of it; long enough that a turn's own cost is small beside it.
   */
  constructor(private readonly sliceMs = 5) {}

  /** Wait for a slice of one's own. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.scheduled) this.schedule();
    });
  }

  /** Go on while the current slice lasts; once it is used up, wait for the next. */
  pause(): Promise<void> {
    return performance.now() - this.sliceStart < this.sliceMs ? Promise.resolve() : this.next();
  }

  private schedule(): void {
    this.scheduled = true;
    // setImmediate runs after the event loop has polled for I/O: requests that arrived meanwhile go first.
    setImmediate(() => {
      this.scheduled = false;
      const resolve = this.waiting.shift();
      if (this.waiting.length) this.schedule();
      this.sliceStart = performance.now();
      // The slice runs as soon as this callback returns (its continuation is a microtask).
      resolve?.();
    });
  }
}
