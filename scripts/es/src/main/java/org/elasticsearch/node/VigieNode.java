/*
 * Vigie: a Node whose plugins come from the classpath.
 *
 * Lives in org.elasticsearch.node because NodeConstruction.prepareConstruction,
 * NodeServiceProvider and the Node(NodeConstruction) constructor are
 * package-private (ES >= 8.10 node construction API).
 */
package org.elasticsearch.node;

import java.util.Collection;
import java.util.Map;
import java.util.Set;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.plugins.VigieClasspathPluginsService;

public class VigieNode extends Node {

    public VigieNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        this(environment, emptyLoader(), classpathPlugins);
    }

    private VigieNode(Environment environment, PluginsLoader loader,
            Collection<Class<? extends Plugin>> classpathPlugins) {
        super(NodeConstruction.prepareConstruction(environment, loader, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new VigieClasspathPluginsService(env, pluginsLoader, classpathPlugins);
            }
        }, true));
    }

    /** No filesystem modules/plugins, no module-layer exports (everything is on the classpath). */
    private static PluginsLoader emptyLoader() {
        return PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false);
    }
}
