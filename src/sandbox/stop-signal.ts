// When a long-running sandbox process (`rewind sandbox`, `rewind demo --keep`) should stop: on the
// first SIGINT or SIGTERM, or when the process that started it goes away. `npm run` and `npx` start
// the real process as a child and do not pass a SIGTERM on (`kill $!` of a backgrounded `npm run
// demo -- --keep` ends npm alone), so the orphan would otherwise keep the sandbox, its ports and its
// Redis keys forever: the parent's exit is read from the parent pid changing (reparented).

/** How often the parent is looked at; a second is well under anyone's patience. */
const PARENT_POLL_MS = 1000;

export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid !== parent) finish();
    }, PARENT_POLL_MS);
    watch.unref();
    function finish(): void {
      clearInterval(watch);
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    }
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
  });
}
