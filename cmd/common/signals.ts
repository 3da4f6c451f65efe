/**
 * SIGINT and SIGTERM for a long-running verb: listened for from the very start of start-up (a signal that arrives
 * while a verb is still starting must stop it cleanly, not kill it by default action), awaited once serving.
 */

/** The first SIGINT or SIGTERM from now on; `cancel` stops listening (after a failed start-up). */
export function listenForStop(): { signalled: Promise<void>; cancel: () => void } {
  let cancel: () => void = () => {};
  const signalled = new Promise<void>((resolve) => {
    const done = (): void => {
      cancel();
      resolve();
    };
    cancel = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
  return { signalled, cancel };
}
