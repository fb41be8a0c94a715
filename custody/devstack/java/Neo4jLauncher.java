import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.Config;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs an embedded Neo4j Community DBMS with a Bolt connector for Custody's local dev stack.
 *
 * <p>Usage: {@code Neo4jLauncher HOME_DIR CONFIG_FILE}. CONFIG_FILE contains neo4j.conf settings
 * (directories, Bolt listen address, memory). The launcher always enables authentication and
 * reads the account from the environment variables CUSTODY_STACK_NEO4J_USER and
 * CUSTODY_STACK_NEO4J_PASSWORD, so the password never appears on a command line or in a log.
 * SIGTERM runs a shutdown hook that shuts the DBMS down cleanly.
 */
public final class Neo4jLauncher {
    private static final String USER_VARIABLE = "CUSTODY_STACK_NEO4J_USER";
    private static final String PASSWORD_VARIABLE = "CUSTODY_STACK_NEO4J_PASSWORD";
    // The account every new Neo4j DBMS creates, with password "neo4j" and a required change.
    private static final String DEFAULT_USER = "neo4j";
    // Written into the data directory once the credentials of a new store are set.
    private static final String CREDENTIALS_MARKER = "custody-credentials-initialised";
    private static final String SAME_PASSWORD_MESSAGE = "Old password and new password cannot be the same";

    private Neo4jLauncher() {}

    public static void main(String[] args) throws InterruptedException {
        try {
            run(args);
        } catch (RuntimeException e) {
            e.printStackTrace();
            // The root cause goes last, because the service's error message shows the log's last lines.
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            System.err.println("Neo4jLauncher: failed to start: " + cause);
            // Exiting runs the shutdown hook, if one is registered, so a started DBMS stops cleanly.
            System.exit(1);
        }
    }

    private static void run(String[] args) throws InterruptedException {
        if (args.length != 2) {
            System.err.println("usage: Neo4jLauncher HOME_DIR CONFIG_FILE");
            System.exit(2);
        }
        Path homeDir = Path.of(args[0]).toAbsolutePath();
        Path configFile = Path.of(args[1]).toAbsolutePath();
        String user = requireEnv(USER_VARIABLE);
        String password = requireEnv(PASSWORD_VARIABLE);
        // The settings the DBMS reads, loaded here for the data directory and the log line.
        Config config = Config.newBuilder()
                .set(GraphDatabaseSettings.neo4j_home, homeDir)
                .fromFile(configFile)
                .build();

        // A new store has the default neo4j/neo4j account. Set the credentials in a first start
        // with Bolt disabled, so that no client can log in with the default password. The marker
        // is written only after that succeeds, so a failed first start repeats this step.
        Path credentialsMarker = config.get(GraphDatabaseSettings.data_directory).resolve(CREDENTIALS_MARKER);
        if (!Files.exists(credentialsMarker)) {
            System.out.println("Neo4jLauncher: setting the credentials of user " + user + " with Bolt disabled");
            DatabaseManagementService bootstrap = build(homeDir, configFile, false);
            try {
                setCredentials(bootstrap, user, password);
                if (!user.equals(DEFAULT_USER)) {
                    system(bootstrap).executeTransactionally("DROP USER " + DEFAULT_USER + " IF EXISTS");
                    System.out.println("Neo4jLauncher: dropped the default user " + DEFAULT_USER);
                }
            } finally {
                bootstrap.shutdown();
            }
            try {
                Files.writeString(credentialsMarker, "credentials set by Neo4jLauncher\n");
            } catch (IOException e) {
                throw new UncheckedIOException("Failed to write " + credentialsMarker, e);
            }
        }

        DatabaseManagementService dbms = build(homeDir, configFile, true);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Neo4jLauncher: shutting down");
            dbms.shutdown();
            System.out.println("Neo4jLauncher: shut down");
        }, "neo4j-launcher-shutdown"));

        // Applies a password changed in the settings since the last start. Until this returns,
        // clients still log in with the previous password.
        setCredentials(dbms, user, password);
        System.out.println("Neo4jLauncher: started, Bolt listening at " + config.get(BoltConnector.listen_address));

        // The DBMS threads run until the shutdown hook stops them, and this thread waits forever.
        new CountDownLatch(1).await();
    }

    private static DatabaseManagementService build(Path homeDir, Path configFile, boolean boltEnabled) {
        return new DatabaseManagementServiceBuilder(homeDir)
                .loadPropertiesFromFile(configFile)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(BoltConnector.enabled, boltEnabled)
                .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                .build();
    }

    /** Creates the user, or sets its password, with no password change required at login. */
    private static void setCredentials(DatabaseManagementService dbms, String user, String password) {
        GraphDatabaseService system = system(dbms);
        Map<String, Object> parameters = Map.of("user", user, "password", password);
        boolean exists = system.executeTransactionally(
                "SHOW USERS YIELD user WHERE user = $user RETURN count(*) AS matches",
                Map.of("user", user),
                result -> ((Number) result.next().get("matches")).longValue() > 0);

        if (!exists) {
            system.executeTransactionally(
                    "CREATE USER $user SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED", parameters);
            System.out.println("Neo4jLauncher: created user " + user);
            return;
        }
        try {
            system.executeTransactionally(
                    "ALTER USER $user SET PLAINTEXT PASSWORD $password CHANGE NOT REQUIRED", parameters);
            System.out.println("Neo4jLauncher: set the password of user " + user);
        } catch (QueryExecutionException e) {
            // Neo4j rejects setting the current password again, which is the usual case on a restart.
            // NOTE: matched on the message text of Neo4j 5.26, because its status code
            // (Neo.ClientError.Statement.ArgumentError) also covers other invalid arguments.
            if (e.getMessage() == null || !e.getMessage().contains(SAME_PASSWORD_MESSAGE)) {
                throw e;
            }
        }
    }

    private static GraphDatabaseService system(DatabaseManagementService dbms) {
        return dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
    }

    private static String requireEnv(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            System.err.println("Neo4jLauncher: environment variable " + name + " is missing or empty");
            System.exit(2);
        }
        return value;
    }
}
