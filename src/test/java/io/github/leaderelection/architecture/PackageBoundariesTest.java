package io.github.leaderelection.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import io.github.leaderelection.election.LeaderElection;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The package boundaries of issue 16 ("The shape that carries it"): the library
 * ({@code io.github.leaderelection.election}) stands on its own, so a service can embed it with
 * fabric8 and slf4j-api alone; the controller ({@code io.github.leaderelection.app}) sits on top
 * and nothing reaches up into it.
 *
 * <p>Each rule is checked on the project's main classes (not its tests, demo, benchmark or test
 * kit) and, so that none can pass vacuously, on the classes of {@code
 * io.github.leaderelection.architecture.fixture}, which break it on purpose. An empty selection
 * fails too (ArchUnit's default): renaming a package cannot silently switch a rule off.
 */
@DisplayName("Package boundaries: the library depends on fabric8 and slf4j-api only, never on the app")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PackageBoundariesTest {

  /** Where the application and the library live under a root package. */
  record Layout(String root) {
    String app() {
      return root + ".app..";
    }

    String library() {
      return root + ".election..";
    }
  }

  static final Layout PROJECT = new Layout("io.github.leaderelection");
  static final Layout FIXTURE = new Layout("io.github.leaderelection.architecture.fixture");

  /** Libraries that only the application may use: its CLI, its logging backend, its metrics. */
  static final String[] APP_ONLY_LIBRARIES = {"picocli..", "ch.qos.logback..", "io.prometheus.."};

  /** What the library may depend on: the JDK, fabric8 (with its Jackson model), slf4j-api. */
  static final String[] LIBRARY_DEPENDENCIES = {
    "java..", "javax..", "io.fabric8..", "com.fasterxml.jackson..", "org.slf4j.."
  };

  private JavaClasses main;
  private JavaClasses fixture;

  @BeforeAll
  void importClasses() {
    // The main classes where this build put them: target/classes, or the output directory of a
    // profile (target/fabric8-8/classes), where ArchUnit's test-location patterns do not apply.
    Location mainClasses =
        Location.of(LeaderElection.class.getProtectionDomain().getCodeSource().getLocation());
    main = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importLocations(Set.of(mainClasses));
    fixture = new ClassFileImporter().importPackages(FIXTURE.root());
  }

  @Test
  @DisplayName("checks the library's and the app's main classes, without the tests")
  void checksTheMainClassesOnly() {
    assertThat(main.contain(LeaderElection.class)).as("the library").isTrue();
    assertThat(main.contain("io.github.leaderelection.app.Main")).as("the app").isTrue();
    assertThat(main.contain(PackageBoundariesTest.class)).as("this test").isFalse();
    assertThat(main.stream().filter(c -> !c.getPackageName().startsWith(PROJECT.root() + ".")))
        .as("classes of other projects").isEmpty();
  }

  static ArchRule nothingOutsideTheAppDependsOnIt(Layout layout) {
    return noClasses().that().resideOutsideOfPackage(layout.app())
        .should().dependOnClassesThat().resideInAPackage(layout.app())
        .because("the app is built on the library's public API, never the other way round");
  }

  static ArchRule nothingOutsideTheAppUsesItsLibraries(Layout layout) {
    return noClasses().that().resideOutsideOfPackage(layout.app())
        .should().dependOnClassesThat().resideInAnyPackage(APP_ONLY_LIBRARIES)
        .because("picocli, logback and Prometheus are optional dependencies: a service that"
            + " embeds the library does not have them");
  }

  static ArchRule theLibraryDependsOnFabric8AndSlf4jOnly(Layout layout) {
    String[] allowed = new String[LIBRARY_DEPENDENCIES.length + 1];
    System.arraycopy(LIBRARY_DEPENDENCIES, 0, allowed, 0, LIBRARY_DEPENDENCIES.length);
    allowed[LIBRARY_DEPENDENCIES.length] = layout.library();
    return classes().that().resideInAPackage(layout.library())
        .should().onlyDependOnClassesThat().resideInAnyPackage(allowed)
        .because("a consumer's dependency tree holds fabric8 and slf4j-api only");
  }

  static ArchRule theLibraryNeverEndsTheProcess(Layout layout) {
    return noClasses().that().resideInAPackage(layout.library())
        .should().callMethod(System.class, "exit", int.class)
        .orShould().callMethod(Runtime.class, "exit", int.class)
        .orShould().callMethod(Runtime.class, "halt", int.class)
        .because("the process belongs to the service that embeds the library: losing"
            + " leadership ends a term, never the JVM");
  }

  @Nested
  @DisplayName("No class outside io.github.leaderelection.app depends on the app")
  class NothingDependsOnTheApp {

    @Test
    @DisplayName("holds for the project's main classes")
    void theProjectDoesNotDependOnTheApp() {
      nothingOutsideTheAppDependsOnIt(PROJECT).check(main);
    }

    @Test
    @DisplayName("reports a library class that calls into the app")
    void aLibraryClassCallingTheAppIsReported() {
      assertThatThrownBy(() -> nothingOutsideTheAppDependsOnIt(FIXTURE).check(fixture))
          .isInstanceOf(AssertionError.class)
          .hasMessageContaining("UsesTheApp")
          .hasMessageContaining("AppEntryPoint");
    }
  }

  @Nested
  @DisplayName("No class outside the app uses picocli, logback or Prometheus")
  class NothingOutsideTheAppUsesItsLibraries {

    @Test
    @DisplayName("holds for the project's main classes")
    void theProjectUsesThemInTheAppOnly() {
      nothingOutsideTheAppUsesItsLibraries(PROJECT).check(main);
    }

    @Test
    @DisplayName("reports a library class that uses each of them")
    void aLibraryClassUsingThemIsReported() {
      assertThatThrownBy(() -> nothingOutsideTheAppUsesItsLibraries(FIXTURE).check(fixture))
          .isInstanceOf(AssertionError.class)
          .hasMessageContaining("picocli.CommandLine")
          .hasMessageContaining("ch.qos.logback.classic.LoggerContext")
          .hasMessageContaining("io.prometheus.metrics.core.metrics.Counter");
    }
  }

  @Nested
  @DisplayName("The library depends on the JDK, fabric8 (and its Jackson model) and slf4j-api only")
  class TheLibraryDependsOnFabric8AndSlf4jOnly {

    @Test
    @DisplayName("holds for io.github.leaderelection.election")
    void theProjectsLibraryStaysWithinThem() {
      theLibraryDependsOnFabric8AndSlf4jOnly(PROJECT).check(main);
    }

    @Test
    @DisplayName("reports a library class that uses the app, an app library or another library")
    void aLibraryClassUsingAnythingElseIsReported() {
      assertThatThrownBy(() -> theLibraryDependsOnFabric8AndSlf4jOnly(FIXTURE).check(fixture))
          .isInstanceOf(AssertionError.class)
          .hasMessageContaining("AppEntryPoint")
          .hasMessageContaining("picocli.CommandLine")
          .hasMessageContaining("org.yaml.snakeyaml.Yaml");
    }

    @Test
    @DisplayName("accepts a class that stays within the JDK, fabric8, Jackson and slf4j-api")
    void acceptsAClassWithinTheRules() {
      JavaClasses wellBehaved = new ClassFileImporter().importClasses(
          fixtureClass("election.WellBehaved"));
      assertThatCode(() -> theLibraryDependsOnFabric8AndSlf4jOnly(FIXTURE).check(wellBehaved))
          .doesNotThrowAnyException();
    }
  }

  @Nested
  @DisplayName("The library never calls System.exit, Runtime.exit or Runtime.halt")
  class TheLibraryNeverEndsTheProcess {

    @Test
    @DisplayName("holds for io.github.leaderelection.election")
    void theProjectsLibraryNeverEndsTheProcess() {
      theLibraryNeverEndsTheProcess(PROJECT).check(main);
    }

    @Test
    @DisplayName("reports a library class that exits and one that halts")
    void aLibraryClassEndingTheProcessIsReported() {
      assertThatThrownBy(() -> theLibraryNeverEndsTheProcess(FIXTURE).check(fixture))
          .isInstanceOf(AssertionError.class)
          .hasMessageContaining("ExitsTheJvm")
          .hasMessageContaining("System.exit(int)")
          .hasMessageContaining("HaltsTheJvm")
          .hasMessageContaining("Runtime.halt(int)");
    }
  }

  private static Class<?> fixtureClass(String name) {
    try {
      return Class.forName(FIXTURE.root() + "." + name);
    } catch (ClassNotFoundException e) {
      throw new AssertionError(e);
    }
  }
}
