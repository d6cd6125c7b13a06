package org.apache.kylin.emu;

/**
 * Launcher: {@code Main --port 7070 --ip 127.0.0.1 --metadata-url URL [--mode all|job|query]
 * [--schema kv|later] [--debug] [--props key=value ...]}. SIGTERM stops gracefully.
 */
public final class Main {
    private Main() {
    }

    private static void usage(String why) {
        System.err.println("kylin-emulator: " + why);
        System.err.println("usage: Main --port N --ip IP --metadata-url URL [--mode all|job|query] [--schema kv|later]"
                + " [--debug] [--props key=value ...]");
        System.exit(2);
    }

    public static void main(String[] args) {
        Config config = new Config();
        String metadataUrl = null;
        for (int k = 0; k < args.length; k++) {
            String a = args[k];
            if (a.equals("--props")) {
                while (k + 1 < args.length && !args[k + 1].startsWith("--")) {
                    String kv = args[++k];
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        usage("bad property: " + kv);
                    }
                    config.p.setProperty(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
                }
                continue;
            }
            if (a.equals("--debug")) {
                Log.debug = true;
                continue;
            }
            if (k + 1 >= args.length) {
                usage("missing value after " + a);
            }
            String v = args[++k];
            switch (a) {
            case "--port": config.port = Integer.parseInt(v); break;
            case "--ip": config.ip = v; break;
            case "--metadata-url": metadataUrl = v; break;
            case "--mode": config.p.setProperty("kylin.server.mode", v); break;
            case "--schema": config.schema = v; break;
            default: usage("unknown option " + a);
            }
        }
        if (metadataUrl == null) {
            metadataUrl = config.p.getProperty("kylin.metadata.url");
        }
        if (metadataUrl == null) {
            usage("--metadata-url is required");
        }
        if (!config.serverMode().matches("all|job|query")) {
            usage("mode must be all, job or query");
        }
        if (!config.schema.matches("kv|later")) {
            usage("schema must be kv or later");
        }
        if (config.p.getProperty("server.port") != null) {
            config.port = Integer.parseInt(config.p.getProperty("server.port"));
        }
        MetadataUrl url;
        try {
            url = new MetadataUrl(metadataUrl);
        } catch (IllegalArgumentException e) {
            usage(e.getMessage());
            return;
        }
        Node node = new Node(config, url);
        Runtime.getRuntime().addShutdownHook(new Thread(node::stop, "shutdown"));
        try {
            node.start();
        } catch (Exception e) {
            Log.error("start failed: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }
}
