package io.github.leaderelection.harness;

import java.time.Duration;
import java.util.List;

/** POSIX signals the JDK cannot send itself (STOP, CONT), through the system's kill command. */
final class Signals {

  private Signals() {
  }

  static void send(ProcessHandle process, String signal) {
    ControlPlane.CommandResult result = ControlPlane.CommandResult.run(
        List.of("kill", "-" + signal, Long.toString(process.pid())), Duration.ofSeconds(10));
    if (result.exitCode() != 0 && process.isAlive()) {
      throw new IllegalStateException("kill -" + signal + " " + process.pid() + " failed: "
          + result.output());
    }
  }
}
