/*
 * Vigie: minimal single-node Elasticsearch 8.x launcher built only from Maven
 * Central artifacts (org.elasticsearch:elasticsearch + transport-netty4).
 *
 * Usage:
 *   java [jvm opts] -cp target/classes:target/lib/* org.vigie.esnode.EsNode \
 *        HTTP_PORT TRANSPORT_PORT HOME_DIR CLUSTER_NAME [key=value ...]
 *
 * HTTP_PORT / TRANSPORT_PORT may be 0 (ephemeral). Binds 127.0.0.1 only,
 * discovery.type=single-node, no x-pack/security. Prints
 * "VIGIE-ES-READY <http-port>" (through the console log) once the node has
 * started and the cluster is at least yellow. SIGTERM/SIGINT close the node
 * cleanly. With -Dvigie.es.parentPid=PID the node also shuts down when that
 * process exits.
 *
 * Launched and managed by scripts/es_node.py.
 */
package org.vigie.esnode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.health.ClusterHealthResponse;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.metadata.Metadata;
import org.elasticsearch.cluster.health.ClusterHealthStatus;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.index.IndexVersion;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.node.VigieNode;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

public final class EsNode {

    /** Elasticsearch "modules" we can get from Maven Central and load from the classpath. */
    private static final String[] CLASSPATH_MODULES = {
        "org.elasticsearch.transport.netty4.Netty4Plugin", // HTTP + transport (essential)
        // GET / (the real one lives in modules/rest-root, which is not published to Maven Central)
        "org.vigie.esnode.EsNode$RootInfoPlugin",
    };

    private static final String DEFAULT_LOG4J2_PROPERTIES = String.join("\n",
        "status = error",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%consoleException%n",
        "rootLogger.level = info",
        "rootLogger.appenderRef.console.ref = console",
        "# quieten a few chatty startup loggers",
        "logger.deprecation.name = org.elasticsearch.deprecation",
        "logger.deprecation.level = error",
        "");

    private EsNode() {}

    /** Report a startup failure and exit(1); never returns normally. */
    private static RuntimeException fail(Throwable t) {
        System.err.println("VIGIE-ES-FAILED " + t);
        t.printStackTrace();
        System.err.flush();
        System.exit(1);
        return new IllegalStateException("unreachable", t);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: EsNode HTTP_PORT TRANSPORT_PORT HOME_DIR CLUSTER_NAME [key=value ...]");
            System.exit(2);
        }
        final int httpPort = Integer.parseInt(args[0]);
        final int transportPort = Integer.parseInt(args[1]);
        final Path home = Path.of(args[2]).toAbsolutePath().normalize();
        final String clusterName = args[3];

        final Path config = home.resolve("config");
        final Path data = home.resolve("data");
        final Path logs = home.resolve("logs");
        Files.createDirectories(config);
        Files.createDirectories(data);
        Files.createDirectories(logs);

        final Settings.Builder sb = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", logs.toString())
            .put("cluster.name", clusterName)
            .put("node.name", "vigie-es-" + clusterName)
            .put("network.host", "127.0.0.1")
            .put("http.port", Integer.toString(httpPort))
            .put("transport.port", Integer.toString(transportPort))
            .put("discovery.type", "single-node")
            // small/CI disks must not flip indices to read-only
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            // the Python wrapper knows the port; no logs/*.ports files
            .put("node.portsfile", false);
        for (int i = 4; i < args.length; i++) {
            final int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("ignoring malformed setting (want key=value): " + args[i]);
                continue;
            }
            sb.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        final Settings settings = sb.build();

        // Logging: console only (the Python wrapper redirects stdout to a log file).
        // A default config/log4j2.properties is written on first start; edit it or
        // pass logger.<name>=LEVEL settings on the command line to tune verbosity.
        final Path log4jConfig = config.resolve("log4j2.properties");
        if (Files.exists(log4jConfig) == false) {
            Files.writeString(log4jConfig, DEFAULT_LOG4J2_PROPERTIES);
        }
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(settings.get("node.name"));
        LogConfigurator.setClusterName(clusterName);

        final Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), config,
            () -> settings.get("node.name"));
        LogConfigurator.configure(env, true);

        final List<Class<? extends Plugin>> plugins = new ArrayList<>();
        for (String cls : CLASSPATH_MODULES) {
            try {
                plugins.add(Class.forName(cls).asSubclass(Plugin.class));
            } catch (ClassNotFoundException e) {
                System.err.println("module class not on classpath, skipping: " + cls);
            }
        }

        // Die with the launching process (pytest, CI step) even if it is SIGKILLed.
        final String parentPid = System.getProperty("vigie.es.parentPid");
        if (parentPid != null && parentPid.isBlank() == false) {
            ProcessHandle.of(Long.parseLong(parentPid.trim())).ifPresentOrElse(
                parent -> parent.onExit().thenRun(() -> {
                    System.out.println("VIGIE-ES parent process " + parentPid + " exited, shutting down");
                    System.exit(0);
                }),
                () -> System.exit(0));
        }

        final Node node;
        try {
            node = new VigieNode(env, plugins);
        } catch (Throwable t) {
            throw fail(t);
        }
        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                System.out.println("VIGIE-ES-STOPPING");
                System.out.flush();
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (IOException | InterruptedException e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
                System.out.println("VIGIE-ES-STOPPED");
                System.out.flush();
                org.apache.logging.log4j.LogManager.shutdown();
            }
        }, "vigie-es-shutdown"));

        try {
            node.start();

            final HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
            final int boundPort = http.boundAddress().publishAddress().getPort();

            final ClusterHealthResponse health = node.client().admin().cluster()
                .prepareHealth(TimeValue.timeValueSeconds(60))
                .setWaitForYellowStatus()
                .setTimeout(TimeValue.timeValueSeconds(60))
                .get();
            if (health.getStatus() == ClusterHealthStatus.RED) {
                System.err.println("cluster health is RED after start: " + health);
            }
            System.out.println("VIGIE-ES-READY " + boundPort);
            System.out.flush();
        } catch (Throwable t) {
            throw fail(t); // the shutdown hook closes whatever was started
        }

        closed.await();
    }

    /**
     * Minimal replacement for modules/rest-root (RestMainAction): answers GET / and HEAD /
     * with the same document shape, so clients' info()/ping() work.
     */
    public static class RootInfoPlugin extends Plugin implements ActionPlugin {

        private volatile ClusterService clusterService;
        private volatile String nodeName;

        public RootInfoPlugin() {}

        @Override
        public java.util.Collection<?> createComponents(PluginServices services) {
            this.clusterService = services.clusterService();
            this.nodeName = Node.NODE_NAME_SETTING.get(services.environment().settings());
            return List.of();
        }

        @Override
        public java.util.Collection<RestHandler> getRestHandlers(
            Settings settings,
            org.elasticsearch.common.io.stream.NamedWriteableRegistry namedWriteableRegistry,
            org.elasticsearch.rest.RestController restController,
            org.elasticsearch.common.settings.ClusterSettings clusterSettings,
            org.elasticsearch.common.settings.IndexScopedSettings indexScopedSettings,
            org.elasticsearch.common.settings.SettingsFilter settingsFilter,
            org.elasticsearch.cluster.metadata.IndexNameExpressionResolver indexNameExpressionResolver,
            java.util.function.Supplier<org.elasticsearch.cluster.node.DiscoveryNodes> nodesInCluster,
            java.util.function.Predicate<org.elasticsearch.features.NodeFeature> clusterSupportsFeature
        ) {
            return List.of(new BaseRestHandler() {
                @Override
                public String getName() {
                    return "vigie_main_action";
                }

                @Override
                public List<Route> routes() {
                    return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
                }

                @Override
                public boolean canTripCircuitBreaker() {
                    return false;
                }

                @Override
                protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
                    return channel -> {
                        final ClusterState state = clusterService.state();
                        final Build build = Build.current();
                        final XContentBuilder b = channel.newBuilder();
                        if (request.hasParam("pretty") == false) {
                            b.prettyPrint().lfAtEnd();
                        }
                        b.startObject();
                        b.field("name", nodeName);
                        b.field("cluster_name", state.getClusterName().value());
                        b.field("cluster_uuid",
                            state.metadata().clusterUUIDCommitted() ? state.metadata().clusterUUID() : Metadata.UNKNOWN_CLUSTER_UUID);
                        b.startObject("version")
                            .field("number", build.qualifiedVersion())
                            .field("build_flavor", build.flavor())
                            .field("build_type", build.type().displayName())
                            .field("build_hash", build.hash())
                            .field("build_date", build.date())
                            .field("build_snapshot", build.isSnapshot())
                            .field("lucene_version", IndexVersion.current().luceneVersion().toString())
                            .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
                            .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
                            .endObject();
                        b.field("tagline", "You Know, for Search");
                        b.endObject();
                        channel.sendResponse(new RestResponse(RestStatus.OK, b));
                    };
                }
            });
        }
    }
}
