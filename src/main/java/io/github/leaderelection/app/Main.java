package io.github.leaderelection.app;

import io.github.leaderelection.app.cli.Environment;
import io.github.leaderelection.app.cli.LeaderElectionCommand;

/**
 * The controller's entry point: the command line decides the settings, {@link App} runs the
 * replica with them, and this is the one place that ends the process with their exit code.
 */
public final class Main {

  private Main() {
  }

  /**
   * Runs the controller; exits 0 after a clean shutdown, 2 for bad input, 1 otherwise.
   *
   * @param args the command line ({@code --help} lists it)
   */
  public static void main(String[] args) {
    System.exit(LeaderElectionCommand.execute(Environment.system(), settings -> {
      try {
        return new App(settings).run();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return 1;
      }
    }, args));
  }
}
