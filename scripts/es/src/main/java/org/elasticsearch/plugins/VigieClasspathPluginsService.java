/*
 * Vigie: PluginsService that loads Elasticsearch modules/plugins from the
 * application classpath instead of a distribution's modules/ directory.
 *
 * It must live in org.elasticsearch.plugins to reach the package-private
 * LoadedPlugin constructor and PluginsService.loadPlugin (this works because
 * the launcher runs everything on the plain classpath, i.e. in the unnamed
 * module, so split packages are allowed). Same idea as the test framework's
 * MockPluginsService and codelibs' cluster runner.
 */
package org.elasticsearch.plugins;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.node.info.PluginsAndModules;
import org.elasticsearch.env.Environment;

public class VigieClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> classpathPlugins;
    private final PluginsAndModules classpathInfo;

    public VigieClasspathPluginsService(Environment environment, PluginsLoader emptyLoader,
            Collection<Class<? extends Plugin>> pluginClasses) {
        super(environment.settings(), environment.configDir(), emptyLoader);
        List<LoadedPlugin> loaded = new ArrayList<>();
        List<PluginDescriptor> descriptors = new ArrayList<>();
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin instance = loadPlugin(pluginClass, environment.settings(), environment.configDir());
            PluginDescriptor descriptor = new PluginDescriptor(
                    pluginClass.getName(),            // name
                    "classpath module (vigie)",       // description
                    Build.current().version(),        // plugin version
                    Build.current().version(),        // elasticsearch version
                    Integer.toString(Runtime.version().feature()), // java version
                    pluginClass.getName(),            // classname
                    null,                             // module name (not modular here)
                    List.of(),                        // extended plugins
                    false,                            // has native controller
                    false,                            // licensed
                    false,                            // modular
                    false);                           // stable
            loaded.add(new LoadedPlugin(descriptor, instance, pluginClass.getClassLoader()));
            descriptors.add(descriptor);
        }
        this.classpathPlugins = List.copyOf(loaded);
        // report them as "modules" (they are what a distribution ships in modules/)
        this.classpathInfo = new PluginsAndModules(List.of(), List.copyOf(descriptors));
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }

    @Override
    public PluginsAndModules info() {
        return classpathInfo;
    }
}
