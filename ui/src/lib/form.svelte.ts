// A form's submission state: busy while its action runs, and the action's
// error message (from a shell CommandError) for the form to show.

export class FormState {
  busy = $state(false);
  error = $state<string | null>(null);

  /** Runs `action` once at a time; true when it succeeded. */
  async run(action: () => Promise<void>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    this.error = null;
    try {
      await action();
      return true;
    } catch (err) {
      this.error = (err as { message?: string }).message ?? String(err);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
